/**
 * A worker thread that runs the per-record part of the chain for the lanes it is given: ingestion's
 * decoding, transformation, extraction (with the lanes' window state) and storage's row encoding.
 * The main thread keeps Kafka, ClickHouse, acknowledgements and commits. See laneWorkers.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Subject } from 'rxjs';
import { outputPlan, type PipelineConfig } from '../config/index.js';
import {
  errorMessage,
  type Ack,
  type Batch,
  type ModuleName,
  type SourceRecord,
  type StageMeter,
} from '../core/index.js';
import type { WindowCounts } from '../extraction/index.js';
import { batchEncoder } from '../storage/index.js';
import { prepareStages, recordStages } from './prepare.js';
import { unpackRecords, type WireBatch, type WireRecord, type WireResult } from './wire.js';
import type { FromWorker, ToWorker } from './laneWorkers.js';
import { currentThreadId } from './threadCpu.js';

const port = parentPort!;
const { config } = workerData as { config: PipelineConfig };
const post = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

/** Counts and timings since the last message home; the main thread adds them to its metrics. */
const counts = new Map<string, number>();
let seconds: [ModuleName, number][] = [];
const counter = (metric: string) => ({
  inc(labels: { module: ModuleName }, value: number) {
    const key = `${metric}\0${labels.module}`;
    counts.set(key, (counts.get(key) ?? 0) + value);
  },
});
const meter: StageMeter = {
  recordsIn: counter('recordsIn'),
  recordsOut: counter('recordsOut'),
  recordsRejected: counter('recordsRejected'),
  recordsFiltered: counter('recordsFiltered'),
  batchSeconds: { observe: (labels, s) => void seconds.push([labels.module, s]) },
};
function takeMetrics() {
  const out = { counts: [...counts], seconds };
  counts.clear();
  seconds = [];
  return out;
}

/**
 * Each row's source record, by its index in the batch the main thread sent. The per-row loop is a
 * function of its own: inside the once-per-batch handler, the code V8 compiled for it on the stack
 * (OSR) failed a map check further down on every batch and was compiled again (--trace-deopt).
 */
function sourceIndexes(sources: readonly WireRecord[]): Int32Array {
  const indexes = new Int32Array(sources.length);
  for (let i = 0; i < sources.length; i++) indexes[i] = sources[i]!.index;
  return indexes;
}

const openWindows = new Map<string, WindowCounts>();
let onGeneration: ((generation: number) => void) | undefined;

/** The batch's acknowledgement here only records what extraction asks for, to be replayed at home. */
interface WorkerAck extends Ack {
  readonly id: number;
  readonly commits: [string, string][];
}

try {
  const stages = await prepareStages(config);
  const plan = outputPlan(config);
  const encode = batchEncoder(config.features, {
    outputs: plan?.tables ?? [],
    tableFor: (topic) => plan?.tableOf(topic) ?? 0,
  });
  const input = new Subject<Batch<SourceRecord>>();
  input.pipe(recordStages(config, stages, meter, openWindows, (l) => (onGeneration = l))).subscribe({
    next(batch) {
      const ack = batch.ack as WorkerAck;
      let result: WireResult;
      try {
        const e = encode(batch);
        result = {
          rows: e.rows,
          rowSources: sourceIndexes(e.sources as readonly WireRecord[]),
          rejected: e.rejected.map((r) => [(r.source as WireRecord).index, r.stage, r.reason] as const),
          features: e.features,
          commits: ack.commits,
        };
      } catch (err) {
        ack.reject(err);
        return;
      }
      const transfer = [result.rowSources.buffer as ArrayBuffer];
      transfer.push(result.rows.bytes.buffer as ArrayBuffer, result.rows.ends.buffer as ArrayBuffer);
      for (const [, rows] of result.features)
        transfer.push(rows.bytes.buffer as ArrayBuffer, rows.ends.buffer as ArrayBuffer);
      post(
        { t: 'done', id: ack.id, result, metrics: takeMetrics(), openWindows: [...openWindows] },
        transfer,
      );
    },
    error: (err: unknown) => post({ t: 'fatal', message: errorMessage(err) }),
  });

  port.on('message', (m: ToWorker) => {
    if (m.t === 'generation') {
      onGeneration?.(m.generation);
      return;
    }
    const wire: WireBatch = m.batch;
    const ack: WorkerAck = {
      id: m.id,
      commits: [],
      commitAt(offset, metadata) {
        this.commits.push([offset.toString(), metadata]);
      },
      accept() {},
      resolve() {},
      reject(err) {
        const e = err as { kind?: unknown; code?: unknown };
        post({
          t: 'failed',
          id: m.id,
          error: {
            message: errorMessage(err),
            kind: typeof e?.kind === 'string' ? e.kind : undefined,
            code: typeof e?.code === 'string' ? e.code : undefined,
          },
          metrics: takeMetrics(),
        });
      },
    };
    input.next({
      lane: wire.lane,
      ack,
      firstOffset: wire.firstOffset,
      lastOffset: wire.lastOffset,
      records: unpackRecords(wire),
      rejected: [],
      filtered: 0,
      ...(wire.resume ? { resume: wire.resume } : {}),
      ...(wire.idleMs !== undefined ? { idleMs: wire.idleMs } : {}),
      ...(wire.seq !== undefined ? { seq: wire.seq } : {}),
    });
  });
  const tid = currentThreadId();
  post({ t: 'ready', ...(tid === undefined ? {} : { tid }) });
} catch (err) {
  post({ t: 'fatal', message: errorMessage(err) });
}
