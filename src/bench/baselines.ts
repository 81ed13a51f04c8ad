import { encodeRowBinary, type InsertRowBinary } from '../storage/index.js';
import type { CpuSpan } from './cpu.js';
import { benchEvent, kafka } from './data.js';

/** A: a bare kafkajs eachBatch loop that only counts records. Returns records per second. */
export async function bareConsumer(
  brokers: string,
  topic: string,
  count: number,
  partitions: number,
  cpu?: CpuSpan,
): Promise<number> {
  const consumer = kafka(brokers).consumer({ groupId: `bench-a-${Date.now()}-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  // Timed from the group assignment, as C is: fetching is part of the work, joining is not.
  let first = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    first = performance.now();
    cpu?.begin();
  });
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: partitions,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= count) {
          cpu?.end(count);
          resolve(performance.now());
        }
      },
    });
  });
  const end = await done;
  await consumer.disconnect();
  return count / ((end - first) / 1000);
}

/**
 * B: bare @clickhouse/client inserts of the same rows, same batch size and format (RowBinary, by
 * the pipeline's path). Rows per second.
 */
export async function bareInserts(
  insert: InsertRowBinary,
  table: string,
  count: number,
  batchRows: number,
  /** The table's columns in order, with their types (for RowBinary). */
  columns: readonly { name: string; type: string }[],
  cpu?: CpuSpan,
  /** The insert settings C's sink sends by default (the storage's defaultInsertSettings). */
  settings: Record<string, number> = {},
): Promise<number> {
  const base = Date.now();
  const row = (i: number) => {
    const e = benchEvent(i, base);
    return {
      _topic: 'bench',
      _partition: i % 6,
      _offset: String(Math.floor(i / 6)),
      _timestamp_ms: base,
      _key: e.user_id,
      event_id: e.event_id,
      user_id: e.user_id,
      event_type: e.event_type,
      country: e.country,
      amount: e.amount,
      quantity: e.quantity,
      ts: Math.floor(Date.parse(e.ts) / 1000), // epoch seconds, as the pipeline sends DateTime
    };
  };
  // Rows are made a chunk at a time, outside the clock: only the inserts are timed, and the
  // benchmark process does not hold every row at once (its peak memory is reported).
  let insertMs = 0;
  for (let i = 0; i < count; i += batchRows) {
    const rows = Array.from({ length: Math.min(batchRows, count - i) }, (_, k) => row(i + k));
    const started = performance.now();
    cpu?.begin();
    await insert({ table, columns, blocks: [encodeRowBinary(columns, rows)], clickhouse_settings: settings });
    insertMs += performance.now() - started;
    cpu?.end(rows.length);
  }
  return count / (insertMs / 1000);
}
