import { Registry } from 'prom-client';
import { lastValueFrom, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig, type PipelineConfig } from '../config/index.js';
import {
  counterValue,
  createAck,
  createLogger,
  createTelemetry,
  PipelineError,
  type Batch,
  type SourceRecord,
} from '../core/index.js';
import { extractFeatures, type WindowCounts } from '../extraction/index.js';
import { decodeRecords } from '../ingestion/index.js';
import { batchEncoder, type EncodedBatch } from '../storage/index.js';
import { transform } from '../transformation/index.js';
import { createLaneWorkers, type LaneWorkers } from './laneWorkers.js';
import { prepareStages } from './prepare.js';
import { currentThreadId, registerThreadCpu, THREAD_CPU_METRIC } from './threadCpu.js';

const PARTITIONS = 3;
const T0 = Date.parse('2026-01-01T00:00:00Z');

function config(features: unknown[]): PipelineConfig {
  return validateConfig({
    kafka: { brokers: ['k:1'], groupId: 'g' },
    sources: [{ topics: ['t'], transform: [{ require: { amount: 'number' } }] }],
    output: {
      table: 'events',
      columns: [
        { name: 'user', type: 'String' },
        { name: 'amount', type: 'Float64' },
        { name: 'ts', type: 'DateTime' },
      ],
    },
    features,
  });
}

const FEATURES = [
  {
    name: 'user_1m',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'tumbling', size: '1m' },
    idleTimeout: '10s',
    aggregations: [
      { name: 'n', fn: 'count' },
      { name: 'revenue', fn: 'sum', field: 'amount' },
      { name: 'users', fn: 'count_distinct', field: 'user' },
    ],
  },
  {
    name: 'user_session',
    entity: '$key',
    eventTime: 'ts',
    window: { type: 'session', gap: '20s' },
    aggregations: [{ name: 'n', fn: 'count' }],
  },
];

/** A record of lane `p` at `offset`; a few are undecodable, fail a transform step, or lack the entity. */
function record(p: number, offset: number): SourceRecord {
  const i = offset * PARTITIONS + p;
  const user = `u${(i * 7) % 11}`;
  const fields: Record<string, unknown> = { user, amount: i / 4, ts: new Date(T0 + i * 1700).toISOString() };
  if (i % 37 === 5) fields.amount = 'x';
  if (i % 41 === 7) delete fields.user;
  const text = i % 43 === 9 ? '{"user": ' : JSON.stringify(fields);
  return {
    topic: 't',
    partition: p,
    offset: String(offset),
    key: i % 29 === 3 ? null : Buffer.from(user),
    value: Buffer.from(text),
    headers: i % 13 === 0 ? { trace: `t${i}` } : {},
    timestamp: T0 + i,
  };
}

/** Lane p's k-th batch: 60 records, or an idle tick; the first of a generation carries `resume`. */
function batch(p: number, k: number, resume?: Batch<SourceRecord>['resume'], idleMs?: number) {
  const handle = createAck();
  const records = idleMs === undefined ? Array.from({ length: 60 }, (_, j) => record(p, k * 60 + j)) : [];
  const last = idleMs === undefined ? String(k * 60 + 59) : String(k * 60 - 1);
  const b: Batch<SourceRecord> = {
    lane: { topic: 't', partition: p },
    ack: handle.ack,
    firstOffset: records[0]?.offset ?? last,
    lastOffset: last,
    records,
    rejected: [],
    filtered: 0,
    ...(resume ? { resume } : {}),
    ...(idleMs !== undefined ? { idleMs } : {}),
  };
  return { b, handle };
}

/** What storage receives for a batch, with records named by their index in the batch. */
function summary(b: Batch<SourceRecord>, e: EncodedBatch, commit: unknown) {
  return {
    rows: e.rows,
    sources: e.sources.map((s) => b.records.indexOf(s)),
    rejected: e.rejected.map((r) => [b.records.indexOf(r.source), r.stage, r.reason]),
    features: [...e.features].sort(),
    commit,
  };
}

/** The same chain on this thread, as the pipeline runs it with `workers: 0`. */
async function inThread(cfg: PipelineConfig) {
  const stages = await prepareStages(cfg);
  let onGeneration: ((g: number) => void) | undefined;
  const decode = decodeRecords(stages.decoderFor);
  const steps = transform(stages.transformFor);
  const openWindows = new Map<string, WindowCounts>();
  const extract = extractFeatures(cfg.output!.columns!, cfg.features, openWindows, (l) => (onGeneration = l));
  const encode = batchEncoder(cfg.features, {
    outputs: [{ columns: cfg.output!.columns! }],
    tableFor: () => 0,
  });
  return {
    openWindows,
    process: async (b: Batch<SourceRecord>) =>
      encode(await lastValueFrom(of(b).pipe(decode, steps, extract))),
    generation: (g: number) => onGeneration?.(g),
  };
}

let workers: LaneWorkers | undefined;
afterEach(async () => {
  await workers?.stop();
  workers = undefined;
});

function startWorkers(cfg: PipelineConfig, count: number) {
  const telemetry = createTelemetry();
  const openWindows = new Map<string, WindowCounts>();
  const fatal: unknown[] = [];
  workers = createLaneWorkers(cfg, count, {
    telemetry,
    logger: createLogger({ level: 'silent' }),
    openWindows,
    onFatal: (err) => fatal.push(err),
  });
  return { workers, telemetry, openWindows, fatal };
}

describe('lane worker threads', () => {
  it('give storage exactly what the chain on the main thread gives, over two threads and a new generation', async () => {
    const cfg = config(FEATURES);
    const home = await inThread(cfg);
    const { workers, telemetry, openWindows, fatal } = startWorkers(cfg, 2);
    await workers.start();

    // Each step: one batch per lane, handed out together (lanes run concurrently, each in order).
    const steps: {
      k: number;
      resume?: Batch<SourceRecord>['resume'];
      idleMs?: number;
      generation?: number;
    }[] = [
      { k: 0, resume: { metadata: null, generation: 1 } },
      { k: 1 },
      { k: 2 },
      { k: 3, generation: 2 },
      { k: 4 },
      { k: 5, idleMs: 3_600_000 },
    ];
    const lastCommit = new Map<number, string | null>();
    let total = 0;
    let featureRows = 0;
    for (const step of steps) {
      if (step.generation) {
        home.generation(step.generation);
        workers.generation(step.generation);
      }
      await Promise.all(
        Array.from({ length: PARTITIONS }, async (_, p) => {
          const resume = step.generation
            ? { metadata: lastCommit.get(p) ?? null, generation: step.generation }
            : step.resume;
          const a = batch(p, step.k, resume, step.idleMs);
          const w = batch(p, step.k, resume, step.idleMs);
          const want = summary(a.b, await home.process(a.b), a.handle.commit());
          const got = summary(w.b, await workers.process(w.b), w.handle.commit());
          expect(got, `lane ${p}, batch ${step.k}`).toEqual(want);
          lastCommit.set(p, a.handle.commit()?.metadata ?? null);
          total += a.b.records.length;
          featureRows += want.features.reduce((n, f) => n + (f[2] as number), 0);
        }),
      );
    }
    // The stream had every kind of reject, and the tick closed windows.
    expect(featureRows).toBeGreaterThan(30);
    expect(await counterValue(telemetry.recordsIn, 'ingestion')).toBe(total);
    for (const module of ['ingestion', 'transformation', 'extraction'] as const)
      expect(await counterValue(telemetry.recordsRejected, module), module).toBeGreaterThan(0);
    expect(openWindows.get('user_1m')).toMatchObject({ open: 0, closed: 0 });
    // The threads' counts and slowest watermark, combined, are the single chain's.
    expect(openWindows.get('user_1m')).toEqual(home.openWindows.get('user_1m'));
    expect(openWindows.get('user_1m')?.watermark).toEqual(expect.any(Number));
    expect(fatal).toEqual([]);
  });

  it('fail a batch with the stage error, its kind kept (a state limit set to fail is fatal)', async () => {
    const cfg = config([{ ...FEATURES[0], maxOpenWindows: 3, onLimit: 'fail' }]);
    const { workers } = startWorkers(cfg, 1);
    await workers.start();
    const err = await workers
      .process(batch(0, 0, { metadata: null, generation: 1 }).b)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ kind: 'fatal', code: 'STATE_LIMIT' });
    expect((err as Error).message).toMatch(/user_1m: 3 open windows reached/);
  });

  it.runIf(process.platform === 'linux')(
    "tell their threads' ids, and the CPU metric counts each thread's own CPU",
    async () => {
      const { workers } = startWorkers(config(FEATURES), 2);
      await workers.start();
      const main = currentThreadId()!;
      const ids = workers.threadIds();
      expect(ids).toHaveLength(2);
      expect(new Set([main, ...ids]).size).toBe(3);
      const registry = new Registry();
      registerThreadCpu(registry, () => [
        ['main', main],
        ...ids.map((tid, i) => [`lane-worker-${i}`, tid] as const),
      ]);
      const read = async () =>
        new Map(
          (await registry.getSingleMetric(THREAD_CPU_METRIC)!.get()).values.map((v) => [
            String(v.labels.thread),
            v.value,
          ]),
        );
      const before = await read();
      expect([...before.keys()].sort()).toEqual(['lane-worker-0', 'lane-worker-1', 'main']);
      // Busy on this thread only, while the workers wait: the process total would show in theirs.
      // Until this process spent 0.4 s of CPU (on a busy machine that takes longer than 0.4 s).
      const cpu = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      };
      const from = cpu();
      const deadline = performance.now() + 10_000;
      let spin = 0;
      while (cpu() - from < 0.4 && performance.now() < deadline) spin++;
      const after = await read();
      expect(spin).toBeGreaterThan(0);
      expect(after.get('main')! - before.get('main')!).toBeGreaterThan(0.25);
      for (const w of ['lane-worker-0', 'lane-worker-1'])
        expect(after.get(w)! - before.get(w)!, w).toBeLessThan(0.1);
      await workers.stop();
      // A thread that has exited has no value.
      expect([...(await read()).keys()]).toEqual(['main']);
    },
  );
});
