import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
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
} from '../support/processes.js';

const run = promisify(execFile);
const env = services();
const servicesScript = resolve(import.meta.dirname, '../../scripts/services.sh');
const PARTITIONS = 3;
const RECORDS = 40_000;
/** storage.bufferBytes below, plus Node, kafkajs fetch buffers and the client: what RSS must stay under. */
const MEMORY_CEILING = 256 * 1024 * 1024;

describe('ClickHouse server down for 20 s mid-stream', () => {
  it('pauses, reports not ready, keeps memory bounded, and then stores every record exactly once', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('outage');
    const table = uniqueName('outage');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, PARTITIONS);
    const dir = mkdtempSync(join(tmpdir(), 'outage-'));
    const config = writePipeline(
      dir,
      'p.yaml',
      faultPipeline({
        brokers,
        clickhouseUrl: env.clickhouseUrl!,
        topic,
        groupId,
        table,
        storage: { bufferRows: 10000, bufferBytes: 4 * 1024 * 1024 },
      }),
    );
    const proc = await startPipelineProcess(config);
    const client = serverClient(env.clickhouseUrl!);
    let clickhouseDown = false;
    try {
      const producing = produceSteadily(brokers, topic, RECORDS, 2000, PARTITIONS);
      await waitFor('some rows stored', async () => (await countRows(client, table)) >= 4000, 60_000, 250);
      const before = metricValue(await proc.metrics(), 'megaservice_records_in_total{module="ingestion"}');
      expect(before).toBeGreaterThan(0);

      await run('bash', [servicesScript, 'down', 'clickhouse']);
      clickhouseDown = true;
      const downAt = Date.now();
      await waitFor('/health/ready to say 503', async () => (await proc.health()) === 503, 15_000, 200);
      let peakRss = 0;
      let circuitOpen = false;
      while (Date.now() - downAt < 20_000) {
        peakRss = Math.max(peakRss, proc.rss());
        circuitOpen ||= metricValue(await proc.metrics(), 'megaservice_circuit_state') === 2;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(circuitOpen, 'the circuit opened while ClickHouse was down').toBe(true);
      expect(peakRss, `peak RSS ${Math.round(peakRss / 1048576)} MiB while ClickHouse was down`).toBeLessThan(
        MEMORY_CEILING,
      );
      expect(proc.child.exitCode, proc.output()).toBeNull(); // paused, not crashed

      await run('bash', [servicesScript, 'up', 'clickhouse']);
      clickhouseDown = false;
      await producing;
      await waitFor('all offsets committed', () => caughtUp(brokers, groupId, topic), 120_000, 500);
      expect(await proc.health()).toBe(200);
      const after = metricValue(await proc.metrics(), 'megaservice_records_in_total{module="ingestion"}');
      expect(after).toBeGreaterThan(before);
      expect(
        metricValue(await proc.metrics(), 'megaservice_retries_total{module="storage"}'),
      ).toBeGreaterThan(0);

      proc.child.kill('SIGTERM');
      expect((await proc.exited).code, proc.output()).toBe(0);

      await expectExactlyOnce(client, table, await topicEnds(brokers, topic), RECORDS);
      const plain = await storedPositions(client, table, false);
      console.log(
        `[outage] plain SELECT rows: ${plain.total} for ${RECORDS} records; peak RSS ${Math.round(peakRss / 1048576)} MiB`,
      );
    } finally {
      if (clickhouseDown) await run('bash', [servicesScript, 'up', 'clickhouse']);
      if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await client.close();
    }
  });
});
