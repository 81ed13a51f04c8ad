import { map, type OperatorFunction } from 'rxjs';
import type { ColumnConfig, FeatureSetConfig } from '../config/index.js';
import {
  ConfigError,
  PipelineError,
  laneId,
  offsetBigInt,
  withRecords,
  type Batch,
  type DecodedRecord,
  type FeatureRow,
  type OutputRow,
  type RejectedRecord,
  type SourceRecord,
} from '../core/index.js';
import {
  commitMetadataProblem,
  laneResume,
  METADATA_MAX_BYTES,
  parseResume,
  withoutTimes,
  type Checkpoint,
  type ResumePoint,
} from './commitMetadata.js';
import { entityOf, eventTimeOf, keyPlan } from './keys.js';
import { planColumns, projector, type Projection } from './project.js';
import { createLaneWindows, type LaneWindows } from './windows/laneWindows.js';

/** A feature set's windows held in memory: all of them, and those closed but not yet written. */
export interface WindowCounts {
  readonly open: number;
  readonly closed: number;
  /**
   * The lowest watermark (epoch ms) of the lanes here that have one: event time up to which the
   * slowest lane's windows can close. Absent before any lane has seen a record.
   */
  readonly watermark?: number;
}

interface LaneState {
  readonly windows: LaneWindows[];
  /** the offset the lane had reached before this process took it over */
  readonly horizon: bigint;
  /** the `seq` the lane's next batch must have (undefined: batches are not numbered) */
  nextSeq: number | undefined;
  /** what the lane last asked to commit */
  last?: Checkpoint;
}

/** The column plan for a topic's records: one plan per distinct column list, made once. */
function columnPlans(
  columns: readonly ColumnConfig[] | ((topic: string) => readonly ColumnConfig[]),
): (topic: string) => ReturnType<typeof planColumns> {
  if (typeof columns !== 'function') {
    const plan = planColumns(columns);
    return () => plan;
  }
  const plans = new Map<readonly ColumnConfig[], ReturnType<typeof planColumns>>();
  return (topic) => {
    const list = columns(topic);
    let plan = plans.get(list);
    if (!plan) plans.set(list, (plan = planColumns(list)));
    return plan;
  };
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

/**
 * Extraction stage: each record is projected onto the output columns, and fed to every feature set's
 * windows for its lane. Closed windows leave as feature rows on the batch; the batch asks its lane to
 * commit only up to the first record an open window still needs, with the metadata to replay.
 * Pure: state is per lane and depends only on the records in offset order.
 */
export function extractFeatures(
  /** The output columns, or per topic: the columns of the table its source's records go to. */
  columns: readonly ColumnConfig[] | ((topic: string) => readonly ColumnConfig[]),
  featureSets: readonly FeatureSetConfig[] = [],
  /** Windows held per feature set, kept up to date for the state-size metrics. */
  openWindows: Map<string, WindowCounts> = new Map(),
  /**
   * Registers to hear of new group generations, so lanes a rebalance took away free their windows
   * even when this process gets no batch afterwards (it may have no partitions left).
   */
  onGeneration?: (listener: (generation: number) => void) => void,
): OperatorFunction<Batch<DecodedRecord>, Batch<OutputRow>> {
  const problem = commitMetadataProblem(featureSets);
  if (problem) throw new ConfigError([problem]);
  const planFor = columnPlans(columns);
  const keyPlans = featureSets.map(keyPlan);
  // Feature sets that read the same event time share one parse per record.
  const sameTimeAs = featureSets.map((fs) => featureSets.findIndex((f) => f.eventTime === fs.eventTime));
  const lanes = new Map<string, LaneState>();
  const budgets = featureSets.map((fs) => ({ open: 0, closed: 0, max: fs.maxOpenWindows }));
  const publish = () =>
    featureSets.forEach((fs, i) => {
      let watermark = Number.POSITIVE_INFINITY;
      for (const state of lanes.values()) {
        const wm = state.windows[i]!.watermark();
        if (Number.isFinite(wm) && wm < watermark) watermark = wm;
      }
      const { open, closed } = budgets[i]!;
      openWindows.set(fs.name, Number.isFinite(watermark) ? { open, closed, watermark } : { open, closed });
    });
  let generation = -1;
  const entities: string[] = new Array<string>(featureSets.length);
  const times: number[] = new Array<number>(featureSets.length);

  /**
   * A new group generation: every lane this process keeps starts again from its commit, and the
   * lanes it lost must not hold their windows (memory, and the open-window budget).
   */
  function newGeneration(g: number) {
    if (g <= generation) return;
    generation = g;
    for (const state of lanes.values()) for (const w of state.windows) w.discard();
    lanes.clear();
    publish();
  }
  onGeneration?.(newGeneration);

  function laneState(batch: Batch<DecodedRecord>): LaneState {
    if (batch.resume) newGeneration(batch.resume.generation);
    const id = laneId(batch.lane);
    let state = lanes.get(id);
    if (!state || batch.resume) {
      for (const old of state?.windows ?? []) old.discard();
      const point = parseResume(batch.resume?.metadata);
      state = {
        windows: featureSets.map((fs, i) =>
          createLaneWindows(fs, batch.lane, laneResume(point, fs), budgets[i]),
        ),
        horizon: point ? BigInt(point.h) : -1n,
        nextSeq: batch.seq,
      };
      lanes.set(id, state);
    }
    if (state.nextSeq !== undefined && batch.seq !== undefined && batch.seq !== state.nextSeq) {
      // An earlier batch of this lane failed on its way here: building on the gap would write wrong
      // windows. (Its failure stops the pipeline; a restart replays from the commit.)
      throw new PipelineError(
        'fatal',
        'LANE_GAP',
        `lane ${id}: batch ${batch.seq} arrived after a failed batch ${state.nextSeq}; not processed`,
      );
    }
    return state;
  }

  /**
   * Every record of a batch: its output row, and its share of each feature set's windows. A function
   * of its own, apart from the batch's once-per-batch work below: V8 compiles this loop on the stack
   * (OSR) while it runs, and code compiled that way for a function also holding the batch's tail kept
   * failing a map check there, was thrown back to the interpreter and compiled again, batch after
   * batch (found with --trace-deopt).
   */
  function extractRecords(
    records: readonly DecodedRecord[],
    state: readonly LaneWindows[],
    project: Projection,
    rows: OutputRow[],
    rejected: RejectedRecord[],
  ): void {
    next: for (const record of records) {
      const r = project(record.fields, record.source.headers);
      if (!('values' in r)) {
        rejected.push({ source: record.source, stage: 'extraction', reason: r.reason });
        continue;
      }
      for (let i = 0; i < keyPlans.length; i++) {
        const entity = entityOf(keyPlans[i]!, record);
        const first = sameTimeAs[i]!;
        const ts = first < i ? times[first]! : eventTimeOf(keyPlans[i]!, record);
        if (typeof entity !== 'string' || typeof ts !== 'number') {
          const reason = typeof entity !== 'string' ? entity.reason : (ts as { reason: string }).reason;
          rejected.push({ source: record.source, stage: 'extraction', reason });
          continue next;
        }
        entities[i] = entity;
        times[i] = ts;
      }
      rows.push({ source: record.source, values: r.values });
      if (state.length === 0) continue;
      const offset = offsetBigInt(record.source.offset);
      for (let i = 0; i < state.length; i++) {
        const lane = state[i]!;
        const outcome = lane.add(entities[i]!, times[i]!, offset, record.fields);
        // The watermark the record came too late for: a late record, below it, cannot have moved it.
        if (outcome === 'late')
          rejected.push(late(featureSets[i]!, record.source, times[i]!, lane.watermark()));
        else if (outcome === 'limit') {
          const fs = featureSets[i]!;
          const why = `feature set ${fs.name}: ${fs.maxOpenWindows} open windows reached (maxOpenWindows)`;
          if (fs.onLimit === 'fail') {
            throw new PipelineError(
              'fatal',
              'STATE_LIMIT',
              `${why}; raise it, shorten the window, or set onLimit: dead-letter`,
            );
          }
          rejected.push({ source: record.source, stage: 'extraction', reason: why });
        }
      }
    }
  }

  return map((batch) => {
    const rows: OutputRow[] = [];
    const rejected: RejectedRecord[] = [];
    const held = featureSets.length > 0 ? laneState(batch) : undefined;
    const state = held?.windows ?? [];
    extractRecords(batch.records, state, projector(planFor(batch.lane.topic)), rows, rejected);
    if (featureSets.length === 0) return withRecords(batch, rows, rejected);

    const tick = batch.idleMs !== undefined;
    if (tick) for (const lane of state) lane.idle(batch.idleMs);
    const features: FeatureRow[] = [];
    // A tick (the lane is quiet) lets every closed window leave; a batch, its share.
    const records = tick ? undefined : batch.records.length;
    for (const lane of state) for (const row of lane.close(records)) features.push(row);
    const next = BigInt(batch.lastOffset) + 1n;
    let commit = checkpoint(held!, next);
    if (commit.metadata.length > METADATA_MAX_BYTES) {
      // Too many closing buckets to list: write them all now, and list none.
      for (const lane of state) for (const row of lane.close()) features.push(row);
      commit = checkpoint(held!, next);
    }
    const last = held!.last;
    if (
      tick &&
      features.length === 0 &&
      last &&
      last.offset === commit.offset &&
      withoutTimes(last.point) === withoutTimes(commit.point)
    ) {
      // Only the idle clock moved, and it closed nothing. The event times stay as last committed:
      // windows closed so far are closed under them too, and the same point is not committed again
      // on every tick of a quiet lane (a commit each, forever).
      commit = last;
    }
    held!.last = commit;
    publish();
    batch.ack.commitAt(commit.offset, commit.metadata);
    if (batch.seq !== undefined) held!.nextSeq = batch.seq + 1;
    return { ...withRecords(batch, rows, rejected), features };
  });

  /** Where the lane may commit after a batch ending before `next`, and the metadata to replay. */
  function checkpoint(held: LaneState, next: bigint): Checkpoint {
    let offset = next;
    const point: ResumePoint = { v: 1, h: (next > held.horizon ? next : held.horizon).toString(), t: {} };
    featureSets.forEach((fs, i) => {
      const cp = held.windows[i]!.checkpoint(next);
      if (cp.needsFrom !== undefined && cp.needsFrom < offset) offset = cp.needsFrom;
      point.t[fs.name] = cp.maxEventTime;
      if (cp.from) (point.s ??= {})[fs.name] = cp.from;
      if (cp.closing) (point.c ??= {})[fs.name] = cp.closing;
    });
    return { offset, metadata: JSON.stringify(point), point };
  }

  function late(fs: FeatureSetConfig, source: SourceRecord, ts: number, wm: number): RejectedRecord {
    return {
      source,
      stage: 'extraction',
      reason: `late for feature set ${fs.name}: event time ${iso(ts)} is past its windows' end plus allowed lateness (watermark ${iso(wm)})`,
    };
  }
}
