import { Kafka, logLevel, Partitioners } from 'kafkajs';

export interface DemoProduceOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly count: number;
  readonly partitions: number;
  /** Every n-th record is corrupt JSON, to show the dead-letter path (0: none). */
  readonly corruptEvery: number;
  readonly seed: number;
  /** Delete the topic first, so the demo starts from a known stream. */
  readonly recreate: boolean;
}

const EVENT_TYPES = ['view', 'click', 'add_to_cart', 'purchase'] as const;

/** A small deterministic PRNG (mulberry32) so the demo stream is the same on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function demoEvent(
  i: number,
  rand: () => number,
  start = Date.UTC(2026, 0, 1),
): Record<string, unknown> {
  const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)]!;
  return {
    event_id: `evt-${i}`,
    user_id: `user-${Math.floor(rand() * 100)}`,
    event_type: type,
    amount: type === 'purchase' ? Math.round(rand() * 20000) / 100 : 0,
    ts: new Date(start + i * 1000).toISOString(),
  };
}

/** Produce a demo stream of JSON events (keyed by user) and return how many were produced. */
export async function produceDemo(opts: DemoProduceOptions): Promise<{ produced: number; corrupt: number }> {
  const kafka = new Kafka({
    clientId: 'megaservice-demo-producer',
    brokers: [...opts.brokers],
    logLevel: logLevel.WARN,
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (opts.recreate && (await admin.listTopics()).includes(opts.topic)) {
      await admin.deleteTopics({ topics: [opts.topic], timeout: 30000 });
      // Deletion is asynchronous on the broker; wait until the name is free again.
      for (let i = 0; i < 60 && (await admin.listTopics()).includes(opts.topic); i++) {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await admin.createTopics({
      topics: [{ topic: opts.topic, numPartitions: opts.partitions }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const rand = prng(opts.seed);
  let corrupt = 0;
  try {
    for (let start = 0; start < opts.count; start += 1000) {
      const messages = [];
      for (let i = start; i < Math.min(opts.count, start + 1000); i++) {
        const event = demoEvent(i, rand);
        const bad = opts.corruptEvery > 0 && (i + 1) % opts.corruptEvery === 0;
        if (bad) corrupt++;
        const value = bad ? `{"event_id": "evt-${i}", "truncated` : JSON.stringify(event);
        messages.push({ key: String(event.user_id), value });
      }
      await producer.send({ topic: opts.topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
  return { produced: opts.count, corrupt };
}
