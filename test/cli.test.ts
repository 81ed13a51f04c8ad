import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES } from '../src/config/index.js';
import { rows } from './support/clickhouse.js';
import { runCli, startCli } from './support/cli.js';
import { services, uniqueName } from './support/env.js';
import { caughtUp, committed, createTopic, produceInOrder, topicEnds, waitFor } from './support/kafka.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'cli-'));

function pipelineFile(name: string, doc: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, stringify(doc));
  return path;
}

/** The variables the config loader reads, unset: these tests are about the file alone. */
const noOverrides = Object.fromEntries(ENV_OVERRIDES.map((o) => [o.variable, undefined]));

describe('megaservice validate', () => {
  it('exits 0 for a valid file', async () => {
    const r = await runCli(['validate', '--config', 'examples/demo.yaml'], noOverrides);
    expect(r.output).toContain('examples/demo.yaml: valid');
    expect(r.code).toBe(0);
  });

  it('exits 2 and names every bad key', async () => {
    const path = pipelineFile('bad.yaml', {
      kafka: { brokers: ['localhost'], groupId: 'g', extra: 1 },
      sources: [{ topics: ['t'] }],
      output: { table: 't', columns: [] },
    });
    const r = await runCli(['validate', '--config', path], noOverrides);
    expect(r.code).toBe(2);
    expect(r.output).toContain(`megaservice: invalid configuration in ${path}:`);
    expect(r.output).toContain('  - kafka.brokers[0]: must be host:port');
    expect(r.output).toContain(
      '  - kafka.extra: unknown key (allowed: brokers, clientId, ssl, sasl, groupId,',
    );
    expect(r.output).toContain('  - output.columns: must declare at least one column');
  });
});

describe('megaservice run', () => {
  it('stores and commits everything it consumed, and exits 0 on SIGTERM', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('cli');
    const table = uniqueName('cli_events');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, 2);
    const messages = (p: number) =>
      Array.from({ length: 1500 }, (_, i) => ({
        key: `k${i}`,
        value: JSON.stringify({ id: `${p}-${i}`, n: i }),
      }));
    await produceInOrder(
      brokers,
      topic,
      new Map([
        [0, messages(0)],
        [1, messages(1)],
      ]),
    );
    const config = pipelineFile('run.yaml', {
      kafka: { brokers: ['placeholder:1'], groupId, partitionsConsumedConcurrently: 2 },
      sources: [{ topics: [topic] }],
      output: {
        database: 'cli',
        table,
        columns: [
          { name: 'id', type: 'String' },
          { name: 'n', type: 'UInt32' },
        ],
      },
      log: { level: 'info' },
      http: { port: 0 },
    });
    // The environment overrides the file, as in docker compose.
    const proc = startCli(['run', '--config', config, '--shutdown-timeout', '20000'], {
      KAFKA_BROKERS: brokers,
      CLICKHOUSE_URL: env.clickhouseUrl,
    });
    try {
      await waitFor('all offsets committed', () => caughtUp(brokers, groupId, topic), 60_000, 500);
    } catch (err) {
      proc.child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${proc.output()}`);
    }
    const port = /"port":(\d+),"msg":"observability endpoints up"/.exec(proc.output())?.[1];
    expect(port, proc.output()).toBeDefined();
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('megaservice_records_in_total{module="ingestion"} 3000');
    expect(metrics).toContain('megaservice_records_out_total{module="storage"} 3000');
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m); // the process registry, served beside
    // The CPU of the pipeline's own threads: the main one, and the lane worker `workers: auto` started.
    expect(metrics).toMatch(/^megaservice_thread_cpu_seconds_total\{thread="main"\} \d/m);
    if (availableParallelism() > 1)
      expect(metrics).toMatch(/^megaservice_thread_cpu_seconds_total\{thread="lane-worker-0"\} \d/m);

    const started = Date.now();
    proc.child.kill('SIGTERM');
    const { code } = await proc.exited;
    expect(code, proc.output()).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(proc.output()).toContain('"msg":"stopped"');

    const client = createClient({ url: env.clickhouseUrl });
    try {
      const [count] = await rows<{ n: string }>(client, `SELECT count() AS n FROM cli.${table}`);
      expect(Number(count!.n)).toBe(3000);
    } finally {
      await client.close();
    }
    expect(await committed(brokers, groupId, topic)).toEqual(await topicEnds(brokers, topic));
  });

  it('exits non-zero with the cause when the output table does not fit', async () => {
    const table = uniqueName('clash');
    const client = createClient({ url: env.clickhouseUrl });
    try {
      await client.command({ query: 'CREATE DATABASE IF NOT EXISTS cli' });
      await client.command({ query: `CREATE TABLE cli.${table} (id UInt8) ENGINE = MergeTree ORDER BY id` });
    } finally {
      await client.close();
    }
    const config = pipelineFile('clash.yaml', {
      kafka: { brokers: [env.kafkaBrokers!], groupId: uniqueName('g') },
      sources: [{ topics: ['unused'] }],
      output: { database: 'cli', table, columns: [{ name: 'id', type: 'String' }] },
      storage: { url: env.clickhouseUrl },
      http: { enabled: false },
    });
    const r = await runCli(['run', '--config', config], noOverrides);
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      `megaservice: cannot start: existing table cli.${table} does not fit the output definition:`,
    );
    expect(r.output).toContain('column _topic is missing (expected String)');
    expect(r.output).toContain('column id is UInt8, expected String');
  });
});
