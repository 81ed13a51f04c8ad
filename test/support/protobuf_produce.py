"""Produces Protobuf records with Confluent's own Python client and serializer (confluent-kafka).

Usage: protobuf_produce.py PROTO_DIR PROTO_FILE BROKERS REGISTRY_URL TOPIC < records.jsonl

Each input line is {"type": "Order" or "Order.LineItem" ..., "key": str, "value": {...}} (the value
in protobuf's JSON mapping, read with json_format.ParseDict), or {"raw": hex, "key": str} for bytes
sent as they are. With "plain": true, the message is sent as plain Protobuf (SerializeToString). The serializer registers the schema (and the files it imports, as references)
under <topic>-value and writes the wire format: magic byte, schema id, message indexes, message.
Prints {"types": [...]} when every record is acknowledged.
"""
import importlib
import json
import os
import sys
import tempfile

from grpc_tools import protoc
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format

proto_dir, proto_file, brokers, registry_url, topic = sys.argv[1:6]
out = tempfile.mkdtemp(prefix="pb-")
well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
if protoc.main(["protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out}", *[
    f for f in os.listdir(proto_dir) if f.endswith(".proto")
]]) != 0:
    sys.exit("protoc failed")
sys.path.insert(0, out)
module = importlib.import_module(proto_file[: -len(".proto")] + "_pb2")

registry = SchemaRegistryClient({"url": registry_url})
serializers = {}
errors = []
producer = Producer({"bootstrap.servers": brokers, "acks": "all"})
ctx = SerializationContext(topic, MessageField.VALUE)
for line in sys.stdin:
    if not line.strip():
        continue
    r = json.loads(line)
    if "raw" in r:
        value = bytes.fromhex(r["raw"])
    else:
        cls = module
        for part in r["type"].split("."):
            cls = getattr(cls, part)
        message = json_format.ParseDict(r["value"], cls())
        if r.get("plain"):
            value = message.SerializeToString()
        else:
            if r["type"] not in serializers:
                serializers[r["type"]] = ProtobufSerializer(cls, registry, {"use.deprecated.format": False})
            value = serializers[r["type"]](message, ctx)
    producer.produce(topic, key=r["key"].encode(), value=value,
                     on_delivery=lambda err, _m: err and errors.append(str(err)))
producer.flush(30)
if errors:
    sys.exit(f"delivery failed: {errors[:3]}")
print(json.dumps({"types": sorted(serializers)}))
