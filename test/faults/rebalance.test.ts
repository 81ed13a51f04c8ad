import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { services, uniqueName } from '../support/env.js';
import { caughtUp, createTopic, topicEnds, waitFor } from '../support/kafka.js';
import {
  countRows,
  expectExactlyOnce,
  faultPipeline,
  metricValue,
  produceSteadily,
  serverClient,
  startPipelineProcess,
  storedPositions,
  writePipeline,
  type PipelineProcess,
} from '../support/processes.js';

const env = services();
const PARTITIONS = 6;
const RECORDS = 45_000;

describe('instances sharing a consumer group', () => {
  it('two processes, a third joining mid-stream: every record stored exactly once, partitions shared', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('rebalance');
    const table = uniqueName('rebalance');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, PARTITIONS);
    const config = writePipeline(
      mkdtempSync(join(tmpdir(), 'rebalance-')),
      'p.yaml',
      faultPipeline({ brokers, clickhouseUrl: env.clickhouseUrl!, topic, groupId, table }),
    );
    const client = serverClient(env.clickhouseUrl!);
    const procs: PipelineProcess[] = [];
    const producing = produceSteadily(brokers, topic, RECORDS, 2000, PARTITIONS);
    try {
      procs.push(await startPipelineProcess(config), await startPipelineProcess(config));
      await waitFor(
        'rows arriving',
        async () => (await countRows(client, table).catch(() => 0)) >= 6000,
        60_000,
        200,
      );
      procs.push(await startPipelineProcess(config));
      // The group settles with all three holding partitions.
      await waitFor(
        'three instances with partitions',
        async () => {
          const counts = await Promise.all(
            procs.map(async (p) => metricValue(await p.metrics(), 'megaservice_assigned_partitions')),
          );
          return counts.every((c) => c >= 1) && counts.reduce((a, b) => a + b, 0) === PARTITIONS;
        },
        60_000,
        500,
      );
      // Each partition's backlog is reported once, by the instance that holds it (what autoscaling
      // sums over instances), under the group's name.
      await waitFor(
        'each partition in one backlog series',
        async () => {
          const series = await backlogSeries(procs);
          const partitions = series.map((s) => s.partition).sort();
          return (
            series.every((s) => s.group === groupId && s.topic === topic) &&
            JSON.stringify(partitions) === JSON.stringify(['0', '1', '2', '3', '4', '5'])
          );
        },
        30_000,
        500,
      );
      await producing;
      await waitFor('all offsets committed', () => caughtUp(brokers, groupId, topic), 120_000, 500);
      const left = await backlogSeries(procs);
      expect(left.length).toBe(PARTITIONS);
      expect(left.reduce((n, s) => n + s.value, 0)).toBe(0);
      for (const p of procs) p.child.kill('SIGTERM');
      for (const p of procs) expect((await p.exited).code, p.output()).toBe(0);

      await expectExactlyOnce(client, table, await topicEnds(brokers, topic), RECORDS);
      const plain = await storedPositions(client, table, false);
      console.log(`[rebalance] plain SELECT rows: ${plain.total} for ${RECORDS} records`);
    } finally {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
      await producing.catch(() => undefined);
      await client.close();
    }
  });
});

/** The megaservice_records_behind series every instance serves. */
async function backlogSeries(procs: readonly PipelineProcess[]) {
  const texts = await Promise.all(procs.map((p) => p.metrics()));
  return texts.flatMap((text) =>
    [
      ...text.matchAll(
        /^megaservice_records_behind\{group="([^"]+)",topic="([^"]+)",partition="(\d+)"\} (\S+)$/gm,
      ),
    ].map((m) => ({ group: m[1]!, topic: m[2]!, partition: m[3]!, value: Number(m[4]) })),
  );
}
