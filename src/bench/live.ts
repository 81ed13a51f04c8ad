import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { histogramBuckets, histogramQuantile } from '../core/index.js';
import type { Pipeline } from '../pipeline/index.js';
import { avroType, benchEvent, kafka, keyedProducer } from './data.js';

/**
 * Produces at `perSecond` for `seconds`, in 100 ms slices, with the produce time as Kafka timestamp;
 * keyed by user, each record in its key's partition (see keyedProducer).
 */
export async function produceAtRate(
  brokers: string,
  topic: string,
  perSecond: number,
  seconds: number,
  format: 'json' | 'avro',
): Promise<number> {
  const producer = keyedProducer(kafka(brokers));
  await producer.connect();
  let i = 0;
  const slice = Math.max(1, Math.round(perSecond / 10));
  const started = Date.now();
  try {
    for (let tick = 0; tick < seconds * 10; tick++) {
      const messages = [];
      for (let k = 0; k < slice; k++, i++) {
        const e = benchEvent(i, Date.now(), 0); // live: the event happens now
        messages.push({
          key: e.user_id,
          value: format === 'json' ? Buffer.from(JSON.stringify(e)) : avroType.toBuffer(e),
        });
      }
      await producer.send({ topic, acks: 1, messages });
      const wait = started + (tick + 1) * 100 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    await producer.disconnect();
  }
  return i;
}

/** `produceAtRate` in a child process (dist/bench/produce.js): the pipeline measured keeps its own event loop and memory. */
export async function produceAtRateApart(...args: Parameters<typeof produceAtRate>): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    join(import.meta.dirname, 'produce.js'),
    ...args.map(String),
  ]);
  return Number(stdout.trim());
}

export async function latencyPercentiles(pipeline: Pipeline): Promise<{ p50: number; p99: number }> {
  const buckets = await histogramBuckets(pipeline.telemetry.eventToStoredSeconds);
  return { p50: histogramQuantile(0.5, buckets) * 1000, p99: histogramQuantile(0.99, buckets) * 1000 };
}

export async function createLiveTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = kafka(brokers).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
  await admin.disconnect();
}
