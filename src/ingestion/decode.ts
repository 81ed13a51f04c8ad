import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mergeMap, type OperatorFunction } from 'rxjs';
import type { SourceConfig } from '../config/index.js';
import {
  ConfigError,
  errorMessage,
  laneId,
  withRecords,
  type Batch,
  type DecodedRecord,
  type RejectedRecord,
  type SourceRecord,
} from '../core/index.js';
import { avroFileDecoder, avroRegistryDecoder, parseAvroSchema, type ReaderSchema } from './decoders/avro.js';
import type { Decoder } from './decoders/decoder.js';
import { jsonDecoder } from './decoders/json.js';
import { loadProtoType, protobufFileDecoder, protobufRegistryDecoder } from './decoders/protobuf.js';
import { createSchemaRegistry } from './schemaRegistry.js';

async function loadSchema(baseDir: string, path: string, key: string) {
  let text: string;
  try {
    text = await readFile(resolve(baseDir, path), 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new ConfigError([`${key}: cannot read ${path}: ${why}`]);
  }
  try {
    return parseAvroSchema(text);
  } catch (err) {
    throw new ConfigError([`${key}: ${path} is not a valid Avro schema: ${errorMessage(err)}`]);
  }
}

/**
 * Builds each source's decoder, reading schema files now so a mistake stops start-up, naming the key.
 * `read`: the top-level fields the pipeline reads (see fieldsRead); the Avro decoders skip the others.
 */
export async function prepareDecoder(
  source: SourceConfig,
  index: number,
  baseDir: string,
  read?: ReadonlySet<string>,
): Promise<Decoder> {
  if (source.format === 'json') return jsonDecoder;
  if (source.format === 'protobuf') return prepareProtobuf(source, index, baseDir);
  const avro = source.avro!;
  const key = `sources[${index}].avro`;
  if (avro.schemaFile)
    return avroFileDecoder(await loadSchema(baseDir, avro.schemaFile, `${key}.schemaFile`), read);
  const registry = avro.registry!;
  let reader: ReaderSchema;
  if (registry.readerSchema === 'writer') reader = { kind: 'writer' };
  else if (registry.readerSchema === 'latest') reader = { kind: 'latest' };
  else
    reader = {
      kind: 'fixed',
      type: await loadSchema(baseDir, registry.readerSchema, `${key}.registry.readerSchema`),
    };
  return avroRegistryDecoder(createSchemaRegistry(registry), reader, (topic) => `${topic}-value`, read);
}

function prepareProtobuf(source: SourceConfig, index: number, baseDir: string): Decoder {
  const settings = source.protobuf!;
  const key = `sources[${index}].protobuf`;
  if (settings.registry)
    return protobufRegistryDecoder(createSchemaRegistry(settings.registry, `${key}.registry`));
  const path = resolve(baseDir, settings.schemaFile!);
  try {
    return protobufFileDecoder(loadProtoType(path, settings.messageType!));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new ConfigError([
      `${key}.schemaFile: cannot use ${settings.schemaFile} for ${settings.messageType}: ${why}`,
    ]);
  }
}

/**
 * Ingestion stage: Kafka messages to decoded records, with the decoder of the batch's source;
 * undecodable ones are rejected with the reason. Registry I/O happens once per batch, before the loop.
 * A lane's batches leave in the order they came, even when one waits for the registry and the next
 * does not (a lane may have two batches in the chain).
 */
export function decodeRecords(
  decoderFor: (topic: string) => Decoder | undefined,
): OperatorFunction<Batch<SourceRecord>, Batch<DecodedRecord>> {
  const tails = new Map<string, Promise<unknown>>();
  return mergeMap((batch) => {
    const id = laneId(batch.lane);
    const before = tails.get(id);
    const decoded = decode(batch, decoderFor);
    decoded.catch(() => undefined); // handled below, possibly after the lane's earlier batch
    const inOrder = before ? before.then(() => decoded) : decoded;
    const tail = inOrder.catch(() => undefined);
    tails.set(id, tail);
    void tail.then(() => {
      if (tails.get(id) === tail) tails.delete(id);
    });
    return inOrder;
  });
}

async function decode(
  batch: Batch<SourceRecord>,
  decoderFor: (topic: string) => Decoder | undefined,
): Promise<Batch<DecodedRecord>> {
  const records: DecodedRecord[] = [];
  const rejected: RejectedRecord[] = [];
  const decoder = decoderFor(batch.lane.topic);
  if (!decoder) {
    const reason = `topic ${batch.lane.topic} matches no configured source`;
    for (const source of batch.records) rejected.push({ source, stage: 'ingestion', reason });
    return withRecords(batch, records, rejected);
  }
  await decoder.prepare(batch.records);
  for (const source of batch.records) {
    const result = decoder.decode(source);
    if ('fields' in result) records.push({ source, fields: result.fields });
    else rejected.push({ source, stage: 'ingestion', reason: result.reason });
  }
  return withRecords(batch, records, rejected);
}
