import avro from 'avsc';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

/** The benchmark's record: about 200 bytes of JSON. */
export const SCHEMA = {
  type: 'record',
  name: 'BenchEvent',
  fields: [
    { name: 'event_id', type: 'string' },
    { name: 'user_id', type: 'string' },
    { name: 'session_id', type: 'string' },
    { name: 'event_type', type: 'string' },
    { name: 'country', type: 'string' },
    { name: 'device', type: 'string' },
    { name: 'url', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'quantity', type: 'int' },
    { name: 'ts', type: 'string' },
  ],
} as const;

const TYPES = ['view', 'click', 'add_to_cart', 'purchase', 'search'];
const COUNTRIES = ['NO', 'SE', 'DK', 'FI', 'DE', 'NL', 'FR', 'ES'];
const DEVICES = ['ios', 'android', 'web-desktop', 'web-mobile'];

/**
 * Event time advances 0.1 ms a record: a pre-filled topic is the backlog of a stream of 10,000
 * events/s, so 50,000 users have about 12 events a minute each and a per-user 1-minute window
 * aggregates several records. (At 10 ms a record, as before, almost every window held one record,
 * and the per-user feature set wrote a feature row per record.)
 */
export const EVENT_SPACING_MS = 0.1;

/** The i-th benchmark event; its event time is `baseMs + i * spacingMs`. */
export function benchEvent(i: number, baseMs: number, spacingMs = EVENT_SPACING_MS) {
  return {
    event_id: `evt-${i.toString().padStart(9, '0')}`,
    user_id: `user-${(i * 7919) % 50_000}`,
    session_id: `sess-${Math.floor(i / 20)}-${(i * 31) % 997}`,
    event_type: TYPES[i % TYPES.length]!,
    country: COUNTRIES[(i * 13) % COUNTRIES.length]!,
    device: DEVICES[(i * 7) % DEVICES.length]!,
    url: `/shop/category-${i % 40}/item-${(i * 17) % 5000}`,
    amount: ((i * 37) % 100_000) / 100,
    quantity: (i % 9) + 1,
    ts: new Date(baseMs + i * spacingMs).toISOString(),
  };
}

export const avroType = avro.Type.forSchema(SCHEMA as unknown as avro.Schema);

export function kafka(brokers: string) {
  return new Kafka({
    clientId: 'megaservice-bench',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
}

/**
 * A producer that puts each record in its key's partition, as producers do by default (murmur2, as
 * the Java client): the benchmark's records are keyed by user, so a user's records share a partition
 * and a per-user window is whole in one lane.
 */
export function keyedProducer(k: Kafka) {
  return k.producer({ createPartitioner: Partitioners.DefaultPartitioner });
}

/**
 * Pre-fills a topic of `partitions` partitions with `count` records, JSON or their Avro twin, keyed
 * by user (see keyedProducer).
 */
export async function prefill(
  brokers: string,
  topic: string,
  count: number,
  partitions: number,
  format: 'json' | 'avro',
): Promise<{ bytes: number }> {
  const k = kafka(brokers);
  const admin = k.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
  const producer = keyedProducer(k);
  await producer.connect();
  let bytes = 0;
  // From a minute boundary, so the same count closes the same windows whenever it runs (the number of
  // feature rows C writes would otherwise depend on where the span falls against the clock).
  const base = Math.floor((Date.now() - count * EVENT_SPACING_MS) / 60_000) * 60_000;
  try {
    for (let start = 0; start < count; start += 10_000) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 10_000); i++) {
        const e = benchEvent(i, base);
        const value = format === 'json' ? Buffer.from(JSON.stringify(e)) : avroType.toBuffer(e);
        bytes += value.length;
        messages.push({ key: e.user_id, value });
      }
      await producer.send({ topic, acks: 1, messages });
    }
  } finally {
    await producer.disconnect();
  }
  return { bytes };
}
