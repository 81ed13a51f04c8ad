import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { services, uniqueName } from '../support/env.js';
import { caughtUp, committed, createTopic, topicEnds, waitFor } from '../support/kafka.js';
import {
  countRows,
  expectExactlyOnce,
  faultPipeline,
  produceSteadily,
  serverClient,
  startPipelineProcess,
  storedPositions,
  writePipeline,
  type PipelineProcess,
} from '../support/processes.js';

const env = services();
const PARTITIONS = 3;

async function setup(name: string) {
  const brokers = env.kafkaBrokers!;
  const topic = uniqueName(name);
  const table = uniqueName(name);
  const groupId = uniqueName('g');
  await createTopic(brokers, topic, PARTITIONS);
  const config = writePipeline(
    mkdtempSync(join(tmpdir(), `${name}-`)),
    'p.yaml',
    faultPipeline({ brokers, clickhouseUrl: env.clickhouseUrl!, topic, groupId, table }),
  );
  return { brokers, topic, table, groupId, config, client: serverClient(env.clickhouseUrl!) };
}

describe('pipeline process crashes and stops', () => {
  it('SIGKILL mid-stream, three times, then a restart: every record stored exactly once', async () => {
    const RECORDS = 40_000;
    const { brokers, topic, table, groupId, config, client } = await setup('kill');
    const producing = produceSteadily(brokers, topic, RECORDS, 1500, PARTITIONS);
    let proc: PipelineProcess | undefined;
    try {
      let seen = 0;
      for (let kill = 1; kill <= 3; kill++) {
        proc = await startPipelineProcess(config);
        // Kill once it has stored more (or after 20 s: a kill after catching up is a crash too).
        const target = seen + 1000;
        await waitFor(
          `${target} rows`,
          async () => (await countRows(client, table).catch(() => 0)) >= target,
          20_000,
          100,
        ).catch(() => undefined);
        proc.child.kill('SIGKILL');
        expect((await proc.exited).signal).toBe('SIGKILL');
        seen = await countRows(client, table);
      }
      await producing;
      proc = await startPipelineProcess(config);
      await waitFor('all offsets committed', () => caughtUp(brokers, groupId, topic), 120_000, 500);
      proc.child.kill('SIGTERM');
      expect((await proc.exited).code, proc.output()).toBe(0);

      await expectExactlyOnce(client, table, await topicEnds(brokers, topic), RECORDS);
      const plain = await storedPositions(client, table, false);
      expect(plain.distinct).toBe(RECORDS);
      console.log(
        `[kill] plain SELECT rows: ${plain.total} for ${RECORDS} records (replays after SIGKILL before merges)`,
      );
    } finally {
      if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await producing.catch(() => undefined);
      await client.close();
    }
  });

  it('SIGTERM mid-stream: exits 0 within the deadline, and what it consumed is stored and committed, once', async () => {
    const RECORDS = 30_000;
    const { brokers, topic, table, groupId, config, client } = await setup('term');
    const producing = produceSteadily(brokers, topic, RECORDS, 3000, PARTITIONS);
    const proc = await startPipelineProcess(config);
    try {
      await waitFor(
        'rows arriving',
        async () => (await countRows(client, table).catch(() => 0)) >= 5000,
        60_000,
        100,
      );
      const started = Date.now();
      proc.child.kill('SIGTERM');
      const { code } = await proc.exited;
      expect(code, proc.output()).toBe(0);
      expect(Date.now() - started).toBeLessThan(20_000);
      await producing;

      // Each partition: rows for offsets 0..committed-1, each once (plain SELECT), nothing beyond.
      const commits = await committed(brokers, groupId, topic);
      const plain = await storedPositions(client, table, false);
      let total = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const c = Number(commits.get(p) ?? -1n);
        expect(c, `partition ${p} committed`).toBeGreaterThan(0);
        expect(plain.byPartition.get(p)).toEqual({ count: c, min: 0, max: c - 1 });
        total += c;
      }
      expect(plain.total).toBe(total);
      expect(plain.distinct).toBe(total);
      expect(total).toBeLessThan(RECORDS); // it really stopped mid-stream
    } finally {
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await producing.catch(() => undefined);
      await client.close();
    }
  });
});
