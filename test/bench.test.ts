import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prefill } from '../src/bench/data.js';
import { benchConfig, fullPipeline, verifyStored } from '../src/bench/pipelineRun.js';
import type { BenchResult } from '../src/bench/report.js';
import { createLogger } from '../src/core/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { services, uniqueName } from './support/env.js';

const env = services();
const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('benchmark', () => {
  it("checks C's rows in the store against what C reports, and stops on a difference", async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('bench_verify');
    const records = 600;
    await prefill(brokers, topic, records, 6, 'json');
    const path = join(dir, 'chdb');
    const config = benchConfig({
      brokers,
      topic,
      format: 'json',
      database: uniqueName('bench_verify'),
      store: { path },
      schemaDir: dir,
      partitions: 6,
    });
    const run = await fullPipeline(config, records, () => {});
    const client = await createClickHouseClient(
      { path, username: 'default', password: '', requestTimeoutMs: 30_000 },
      createLogger({ level: 'silent' }),
    );
    try {
      await verifyStored(client, config, { records, featureRows: run.featureRows });
      await expect(
        verifyStored(client, config, { records: records + 1, featureRows: run.featureRows }),
      ).rejects.toThrow(`${records} of ${records + 1} records stored`);
      await expect(
        verifyStored(client, config, { records, featureRows: run.featureRows + 1 }),
      ).rejects.toThrow(`${run.featureRows} feature rows stored, ${run.featureRows + 1} counted`);
    } finally {
      await client.close();
    }
  });

  it('npm run bench -- --quick runs A, B and C and prints the ratios and the results files', async () => {
    const out = join(dir, 'results');
    const child = spawn('npm', ['run', '-s', 'bench', '--', '--quick', '--out', out], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((res) => child.once('exit', res));
    expect(code, output).toBe(0);

    // The table the issue asks for: records/s of A, B and C, C/A and C/B, per store and format.
    expect(output).toContain('| store | format | A records/s | B rows/s | C records/s | C/A | C/B |');
    expect(output).toMatch(/\| embedded \| json \| [\d,]+ \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \| \d+\.\d\d \|/);
    expect(output).toMatch(/\| embedded \| avro \| [\d,]+ \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \| \d+\.\d\d \|/);
    expect(output).toMatch(/Node v\d+/);
    // Where the services ran: the addresses it was given, or the ones it started.
    expect(output).toMatch(
      /Services: (Kafka at \S+ and the ClickHouse server at http\S+ |scripts\/services\.sh)/,
    );

    // A quick run's files go apart from the full runs'.
    const files = readdirSync(join(out, 'quick'));
    const json = files.find((f) => f.endsWith('.json') && f !== 'latest.json');
    expect(files).toEqual(expect.arrayContaining(['latest.json', 'latest.md', json?.replace(/json$/, 'md')]));
    const result = JSON.parse(readFileSync(join(out, 'quick', json!), 'utf8')) as BenchResult;
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.throughput.map((t) => `${t.store}/${t.format}`)).toEqual([
      'embedded/json',
      'embedded/avro',
    ]);
    for (const t of result.throughput) {
      for (const rate of [t.a, t.b, t.c]) expect(rate).toBeGreaterThan(0);
      expect(t.cOverA).toBeGreaterThan(0);
      expect(t.cOverB).toBeGreaterThan(0);
      // Every record went through at least one insert into the output table, and none held more
      // than a chunk (batchRows) of them.
      expect(result.settings.batchRows).toBeGreaterThan(0);
      expect(t.cInserts!.output).toBeGreaterThanOrEqual(
        Math.ceil(result.settings.records / result.settings.batchRows!),
      );
      // Feature rows only once windows close (a quick run's event time may close none).
      expect(t.cInserts!.features > 0).toBe(t.featureRowsPerRecord > 0);
    }
    // C's CPU by thread adds up to the process's, the main thread and the lane worker having a part.
    const cCpu = result.cpu!.filter((c) => c.run === 'c');
    expect(cCpu).toHaveLength(2);
    for (const c of cCpu) {
      const t = c.threadsUs!;
      expect(t.main, `${c.format} main`).toBeGreaterThan(0);
      expect(t.laneWorkers, `${c.format} lane workers`).toBeGreaterThan(0);
      const sum = t.main + t.laneWorkers + t.v8AndLibuv + t.other;
      expect(Math.abs(sum - c.selfUs) / c.selfUs, `${c.format}: ${sum} against ${c.selfUs}`).toBeLessThan(
        0.15,
      );
    }
    expect(output).toContain('| store | format | main µs | lane workers µs | V8 and libuv µs | other µs |');
    expect(result.latency.map((l) => l.load)).toEqual([0.5, 0.8]);
    for (const l of result.latency) expect(l.p99Ms).toBeGreaterThanOrEqual(l.p50Ms);
    expect(result.memory.steady[0]!.rssMiB).toBeGreaterThan(0);
    expect(result.memory.peakRssMiB).toBeGreaterThanOrEqual(result.memory.steady[0]!.rssMiB);
  });
});
