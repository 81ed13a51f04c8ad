import { Kafka, logLevel, type Message } from 'kafkajs';

export function kafkaClient(brokers: string) {
  return new Kafka({
    clientId: 'megaservice-tests',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
}

export async function createTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends messages partition by partition, in order, so the j-th message of partition p has offset j;
 * `perSend` at a time, each send one Kafka record batch.
 */
export async function produceInOrder(
  brokers: string,
  topic: string,
  byPartition: ReadonlyMap<number, readonly Message[]>,
  perSend = 2000,
): Promise<void> {
  const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (const [partition, messages] of byPartition) {
      for (let i = 0; i < messages.length; i += perSend) {
        await producer.send({
          topic,
          acks: -1,
          messages: messages.slice(i, i + perSend).map((m) => ({ ...m, partition })),
        });
      }
    }
  } finally {
    await producer.disconnect();
  }
}

/** End per partition as a read_committed reader sees it (kafkajs' default): the last stable
 * offset, which is the high watermark whenever no transaction is open. */
export async function topicEnds(brokers: string, topic: string): Promise<Map<number, bigint>> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Committed offset per partition for a group (-1 where nothing is committed). */
export async function committed(
  brokers: string,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs: number,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** True once the group has committed the end of every partition of the topic. */
export async function caughtUp(brokers: string, groupId: string, topic: string): Promise<boolean> {
  const [ends, done] = await Promise.all([topicEnds(brokers, topic), committed(brokers, groupId, topic)]);
  for (const [p, high] of ends) if ((done.get(p) ?? -1n) !== high) return false;
  return true;
}
