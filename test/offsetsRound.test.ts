import { Kafka, logLevel, type Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { connectAdmin } from '../src/core/index.js';
import { createOffsetsRound } from '../src/ingestion/index.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, kafkaClient, produceInOrder } from './support/kafka.js';

const env = services();

describe('offsets round (what the lag and backlog gauges read)', () => {
  it("reads each partition's ends and the group's commit in one round, which a scrape's second gauge reuses", async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('offsets');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, 2);
    const values = (n: number) => Array.from({ length: n }, (_, i) => ({ value: `v${i}` }));
    await produceInOrder(
      brokers,
      topic,
      new Map([
        [0, values(5)],
        [1, values(3)],
      ]),
    );
    const admin = kafkaClient(brokers).admin();
    await admin.connect();
    try {
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }] });
      // Requests the round sends, by API, as the broker is asked.
      const asked: string[] = [];
      admin.on(admin.events.REQUEST, (e: { payload: { apiName: string } }) => asked.push(e.payload.apiName));
      const round = createOffsetsRound({ admin: () => admin, topics: async () => [topic], groupId });

      const first = await round();
      expect(first).toEqual(
        new Map([
          [`${topic}/0`, { low: 0n, high: 5n, committed: 2n }],
          [`${topic}/1`, { low: 0n, high: 3n, committed: undefined }],
        ]),
      );
      const sent = asked.length;
      expect(asked).toContain('ListOffsets');
      expect(asked).toContain('OffsetFetch');
      expect(await round()).toBe(first); // the second gauge of the same scrape: no request
      expect(asked.length).toBe(sent);

      await produceInOrder(brokers, topic, new Map([[1, values(1)]]));
      await new Promise((r) => setTimeout(r, 1100));
      const later = await round(); // the next scrape asks again
      expect(asked.length).toBeGreaterThan(sent);
      expect(later.get(`${topic}/1`)).toEqual({ low: 0n, high: 4n, committed: undefined });
    } finally {
      await admin.disconnect();
    }
  });
});

describe('connectAdmin', () => {
  it("finds the group's coordinator at the first group request, without kafkajs's retry", async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('admin');
    await createTopic(brokers, topic, 1);
    const logs: string[] = [];
    const kafka = new Kafka({
      brokers: [brokers],
      logLevel: logLevel.DEBUG,
      logCreator: () => (entry) => void logs.push(entry.log.message),
    });
    const retried = () => logs.filter((m) => m.includes('No brokers in the broker pool'));
    const ask = (admin: Admin) => admin.fetchOffsets({ groupId: uniqueName('g'), topics: [topic] });

    // Guard: connected the plain way, the admin's first group request retries (about 300 ms later).
    const plain = kafka.admin();
    await plain.connect();
    try {
      await ask(plain);
    } finally {
      await plain.disconnect();
    }
    expect(retried().length).toBeGreaterThan(0);

    logs.length = 0;
    const admin = await connectAdmin(kafka);
    try {
      await ask(admin);
    } finally {
      await admin.disconnect();
    }
    expect(retried()).toEqual([]);
  });
});
