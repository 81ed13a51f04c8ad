import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '../core/index.js';
import { createClickHouseClient } from '../storage/index.js';
import { kafka } from './data.js';

/** Where the benchmark runs: its services, what it creates on them, and this process's memory. */

const run = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Between scenarios, collect the garbage the last one left (`npm run bench` passes --expose-gc), so
 * one scenario's leftovers do not count in the next one's resident memory.
 */
export async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return;
  gc();
  await new Promise((r) => setTimeout(r, 500));
  gc();
}

/** Of the resident memory, the part mapped from files (Linux; 0 elsewhere): library code, mostly. */
export function residentFromFiles(): number {
  try {
    const m = /^RssFile:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function services(): Promise<{ brokers: string; clickhouseUrl: string; where: string }> {
  if (process.env.KAFKA_BROKERS && process.env.CLICKHOUSE_URL) {
    return {
      brokers: process.env.KAFKA_BROKERS,
      clickhouseUrl: process.env.CLICKHOUSE_URL,
      where: `Kafka at ${process.env.KAFKA_BROKERS} and the ClickHouse server at ${process.env.CLICKHOUSE_URL} (KAFKA_BROKERS and CLICKHOUSE_URL)`,
    };
  }
  const { stdout } = await run('bash', [join(ROOT, 'scripts/services.sh'), 'up', 'all'], {
    maxBuffer: 1 << 24,
  });
  const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  return {
    brokers: env.KAFKA_BROKERS!,
    clickhouseUrl: env.CLICKHOUSE_URL!,
    where: 'scripts/services.sh on this machine (127.0.0.1)',
  };
}

/**
 * What a run created on the services: deleted at the end. Left behind, a few runs leave the broker
 * gigabytes of logs and the server hundreds of tables, and both then spend the shared cores on their
 * own housekeeping (C ran at half speed against a broker with 25 GB and a server with 1,900 tables).
 */
export const created = { topics: [] as string[], databases: [] as string[] };

/** A ClickHouse client for the benchmark's own statements: the server at `url`, else chDB at `chdbPath`. */
export function benchClient(url: string | undefined, chdbPath: string) {
  return createClickHouseClient(
    { url, path: chdbPath, username: 'default', password: '', requestTimeoutMs: 60_000 },
    createLogger({ level: 'silent' }),
  );
}

export async function cleanUp(brokers: string, clickhouseUrl: string, dir: string): Promise<void> {
  const admin = kafka(brokers).admin();
  try {
    await admin.connect();
    if (created.topics.length > 0) await admin.deleteTopics({ topics: created.topics });
  } finally {
    await admin.disconnect();
  }
  if (created.databases.length > 0) {
    const client = await benchClient(clickhouseUrl, join(dir, 'chdb'));
    try {
      for (const db of created.databases) await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    } finally {
      await client.close();
    }
  }
  rmSync(dir, { recursive: true, force: true }); // the embedded store's data
}
