import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PipelineConfig } from '../config/index.js';
import {
  laneId,
  PipelineError,
  type Batch,
  type ErrorKind,
  type Logger,
  type ModuleName,
  type RejectedRecord,
  type SourceRecord,
  type Stage,
  type Telemetry,
} from '../core/index.js';
import type { WindowCounts } from '../extraction/index.js';
import { batchSpan, type EncodedBatch } from '../storage/index.js';
import { packBatch, type WireBatch, type WireResult } from './wire.js';

export type ToWorker =
  | { readonly t: 'batch'; readonly id: number; readonly batch: WireBatch }
  | { readonly t: 'generation'; readonly generation: number };

interface WorkerMetrics {
  readonly counts: readonly (readonly [string, number])[];
  readonly seconds: readonly (readonly [ModuleName, number])[];
}

export type FromWorker =
  /** tid: the thread's id in the operating system, where it can tell (Linux). */
  | { readonly t: 'ready'; readonly tid?: number }
  | { readonly t: 'fatal'; readonly message: string }
  | {
      readonly t: 'done';
      readonly id: number;
      readonly result: WireResult;
      readonly metrics: WorkerMetrics;
      readonly openWindows: readonly (readonly [string, WindowCounts])[];
    }
  | {
      readonly t: 'failed';
      readonly id: number;
      readonly error: { message: string; kind: string | undefined; code: string | undefined };
      readonly metrics: WorkerMetrics;
    };

/**
 * How many worker threads `workers: auto` means: one per core beyond the first, at most 4. On two
 * cores, two threads caught up about 20% faster than one (93k against 78k records/s over a million
 * records), but at 40,000 records/s they held 620 MiB against 490 and had a longer latency tail:
 * the memory bound wins the default.
 */
export function resolveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? Math.min(4, availableParallelism() - 1) : workers;
}

/**
 * A thread's young generation. A batch's objects live until its rows are encoded; with V8's default
 * they often survive a scavenge and are copied, then promoted. Two threads caught up at 74-87k
 * records/s with 32 MiB, 93k with 64 and 93-103k with 128, which also held 745 MiB at 40,000
 * records/s against 620 with 64.
 */
const YOUNG_GENERATION_MB = 64;

/**
 * The compiled worker script. From TypeScript sources (vitest) it is the build's copy: `npm test`
 * builds first.
 */
function workerScript(): URL {
  const here = new URL('./laneWorker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/pipeline/laneWorker.js', import.meta.url);
}

export interface LaneWorkers {
  /** Starts the threads; resolves once each has compiled its stages. */
  start(): Promise<void>;
  /** Runs a lane batch through decode, transform, extract and encode on the lane's thread. */
  process(batch: Batch<SourceRecord>): Promise<EncodedBatch>;
  /** A new group generation: every thread drops its lanes' windows; lanes may move between threads. */
  generation(generation: number): void;
  /** The threads' ids in the operating system, of those started that told theirs (Linux). */
  threadIds(): readonly number[];
  stop(): Promise<void>;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<
    number,
    { batch: Batch<SourceRecord>; resolve: (e: EncodedBatch) => void; reject: (err: unknown) => void }
  >;
  lanes: number;
  openWindows: ReadonlyMap<string, WindowCounts>;
  tid?: number;
}

type StageCounter = 'recordsIn' | 'recordsOut' | 'recordsRejected' | 'recordsFiltered';

/**
 * Worker threads for the per-record work, so it runs beside kafkajs and the ClickHouse client instead
 * of after them on one core. Each lane belongs to one thread for a group generation (its window state
 * lives there), given to the thread with the fewest lanes. A thread that dies is fatal: its lanes'
 * state is gone, and the process restarts from the commits like after a crash.
 */
export function createLaneWorkers(
  config: PipelineConfig,
  count: number,
  deps: {
    telemetry: Telemetry;
    logger: Logger;
    /** Windows held per feature set, the sum over threads, for the state-size metrics. */
    openWindows: Map<string, WindowCounts>;
    onFatal: (err: unknown) => void;
  },
): LaneWorkers {
  const { telemetry, logger, openWindows } = deps;
  const threads: Thread[] = [];
  const laneThread = new Map<string, Thread>();
  let nextId = 0;
  let stopping = false;
  // Each thread holds its share of maxOpenWindows, so the process holds no more than configured.
  const threadConfig: PipelineConfig = {
    ...config,
    features: config.features.map((fs) => ({
      ...fs,
      maxOpenWindows: Math.max(1, Math.ceil(fs.maxOpenWindows / count)),
    })),
  };

  function addMetrics(m: WorkerMetrics) {
    for (const [key, n] of m.counts) {
      const [metric, module] = key.split('\0') as [StageCounter, ModuleName];
      telemetry[metric].inc({ module }, n);
    }
    for (const [module, s] of m.seconds) telemetry.batchSeconds.observe({ module }, s);
  }

  function sumOpenWindows() {
    for (const fs of config.features) {
      let open = 0;
      let closed = 0;
      let watermark = Number.POSITIVE_INFINITY;
      for (const t of threads) {
        const n = t.openWindows.get(fs.name);
        open += n?.open ?? 0;
        closed += n?.closed ?? 0;
        if (n?.watermark !== undefined && n.watermark < watermark) watermark = n.watermark;
      }
      openWindows.set(fs.name, Number.isFinite(watermark) ? { open, closed, watermark } : { open, closed });
    }
  }

  function toEncoded(batch: Batch<SourceRecord>, r: WireResult): EncodedBatch {
    const records = batch.records;
    const sources = new Array<SourceRecord>(r.rowSources.length);
    for (let i = 0; i < sources.length; i++) sources[i] = records[r.rowSources[i]!]!;
    const rejected: RejectedRecord[] = r.rejected.map(
      ([i, stage, reason]: readonly [number, Stage, string]) => ({
        source: records[i]!,
        stage,
        reason,
      }),
    );
    for (const [offset, metadata] of r.commits) batch.ack.commitAt(BigInt(offset), metadata);
    return {
      ack: batch.ack,
      lane: batch.lane,
      span: batchSpan(batch.lane, batch.firstOffset, batch.lastOffset),
      rows: r.rows,
      sources,
      rejected,
      features: r.features,
    };
  }

  function died(thread: Thread, err: unknown) {
    const e =
      err instanceof PipelineError
        ? err
        : new PipelineError(
            'fatal',
            'WORKER_FAILED',
            `a lane worker thread failed: ${String((err as Error)?.message ?? err)}`,
          );
    for (const p of thread.pending.values()) p.reject(e);
    thread.pending.clear();
    if (!stopping) deps.onFatal(e);
  }

  function onMessage(thread: Thread, m: FromWorker) {
    if (m.t === 'ready') return;
    if (m.t === 'fatal') {
      died(thread, new PipelineError('fatal', 'WORKER_FAILED', `a lane worker thread failed: ${m.message}`));
      return;
    }
    addMetrics(m.metrics);
    const p = thread.pending.get(m.id);
    if (!p) return;
    thread.pending.delete(m.id);
    if (m.t === 'failed') {
      const kind = (m.error.kind ?? 'retryable') as ErrorKind;
      p.reject(
        m.error.kind
          ? new PipelineError(kind, m.error.code ?? 'STAGE_FAILED', m.error.message)
          : new Error(m.error.message),
      );
      return;
    }
    thread.openWindows = new Map(m.openWindows);
    sumOpenWindows();
    try {
      p.resolve(toEncoded(p.batch, m.result));
    } catch (err) {
      p.reject(err);
    }
  }

  function threadFor(batch: Batch<SourceRecord>): Thread {
    const id = laneId(batch.lane);
    let t = laneThread.get(id);
    if (!t) {
      t = threads.reduce((a, b) => (b.lanes < a.lanes ? b : a));
      t.lanes++;
      laneThread.set(id, t);
    }
    return t;
  }

  return {
    async start() {
      const ready: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const worker = new Worker(workerScript(), {
          workerData: { config: threadConfig },
          resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
        });
        const thread: Thread = { worker, pending: new Map(), lanes: 0, openWindows: new Map() };
        threads.push(thread);
        ready.push(
          new Promise<void>((resolve, reject) => {
            worker.on('message', (m: FromWorker) => {
              if (m.t === 'ready') {
                if (m.tid !== undefined) thread.tid = m.tid;
                resolve();
              } else if (m.t === 'fatal')
                reject(
                  new PipelineError(
                    'fatal',
                    'WORKER_FAILED',
                    `a lane worker thread failed to start: ${m.message}`,
                  ),
                );
              onMessage(thread, m);
            });
            worker.on('error', (err) => {
              reject(err);
              died(thread, err);
            });
            worker.on('exit', (code) => {
              if (!stopping) died(thread, new Error(`exited with code ${code}`));
            });
          }),
        );
      }
      await Promise.all(ready);
      logger.info({ threads: count }, 'lane worker threads started');
    },

    process(batch) {
      const thread = threadFor(batch);
      const id = nextId++;
      return new Promise<EncodedBatch>((resolve, reject) => {
        thread.pending.set(id, { batch, resolve, reject });
        const { wire, transfer } = packBatch(batch);
        thread.worker.postMessage({ t: 'batch', id, batch: wire } satisfies ToWorker, transfer);
      });
    },

    generation(generation) {
      // Messages to a thread keep their order: it drops its windows before it sees the new batches.
      for (const t of threads) {
        t.worker.postMessage({ t: 'generation', generation } satisfies ToWorker);
        t.lanes = 0;
      }
      laneThread.clear();
    },

    threadIds: () => threads.flatMap((t) => (t.tid === undefined ? [] : [t.tid])),

    async stop() {
      stopping = true;
      for (const t of threads)
        died(t, new PipelineError('retryable', 'STOPPING', 'the pipeline is stopping'));
      await Promise.all(threads.map((t) => t.worker.terminate()));
      threads.length = 0;
    },
  };
}
