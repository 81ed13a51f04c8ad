import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import { createLaneFixedWindows } from './fixed.js';
import { createLaneSessions } from './sessions.js';

export type AddOutcome = 'added' | 'late' | 'accounted' | 'limit';

/** Where a lane had got to at its last commit (from the commit metadata). */
export interface LaneResume {
  /** The offset the lane had reached: below it, records of closed windows were accounted for. */
  readonly horizon: bigint;
  /** The highest event time the lane had at the horizon. */
  readonly maxEventTime: number;
  /** Session windows: the offset replay starts from, and the highest event time just before it. */
  readonly from?: { readonly offset: bigint; readonly maxEventTime: number };
  /** Fixed windows: buckets closed but not all written, by start, and the offset they closed at. */
  readonly closing?: readonly (readonly [number, bigint])[];
}

/** What a lane's feature set needs committed to replay: where its open windows start, and its clock. */
export interface LaneCheckpoint {
  /** The lowest offset an open window still needs (undefined: none is open). */
  readonly needsFrom: bigint | undefined;
  /** Highest event time at this point (null: none seen). */
  readonly maxEventTime: number | null;
  /** Session windows: the offset replay must start from, and the highest event time just before it. */
  readonly from?: readonly [string, number | null];
  /** Fixed windows: buckets closed but not all written, by start, and the offset they closed at. */
  readonly closing?: readonly (readonly [number, string])[];
}

export interface LaneWindows {
  watermark(): number;
  openWindows(): number;
  add(entity: string, ts: number, offset: bigint, fields: Record<string, unknown>): AddOutcome;
  /** The lane has had no records for `idleMs` (processing time): past the idle timeout, time runs on. */
  idle(idleMs: number): void;
  /**
   * Remove and return windows the watermark has closed: fixed windows a share per batch, paced by
   * the batch's record count (undefined, as on an idle tick: all of them).
   */
  close(batchRecords?: number): FeatureRow[];
  /** Drop every open window (the lane was reassigned and will be rebuilt from its commit). */
  discard(): void;
  checkpoint(next: bigint): LaneCheckpoint;
}

/** Open windows of one feature set across all lanes, and its ceiling: shared, kept live. */
export interface WindowBudget {
  /** windows held: open, and closed ones not yet written */
  open: number;
  /** of those, closed and not yet written (fixed windows leave a share per batch) */
  closed: number;
  readonly max: number;
}

/** Window starts a timestamp belongs to: one for tumbling windows, size/step for hopping ones. */
export function windowStarts(ts: number, size: number, step: number): number[] {
  const last = Math.floor(ts / step) * step;
  const starts: number[] = [];
  for (let s = last; s > ts - size; s -= step) starts.push(s);
  return starts.reverse();
}

/**
 * One feature set's open windows for one lane, in event time. The watermark is the highest event
 * time seen minus `outOfOrderness`; a window closes when the watermark reaches its end plus
 * `allowedLateness`. A record whose windows are all closed is late. Pure: no clock, no I/O.
 */
export function createLaneWindows(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume?: LaneResume,
  budget: WindowBudget = { open: 0, closed: 0, max: Number.POSITIVE_INFINITY },
): LaneWindows {
  return fs.window.type === 'session'
    ? createLaneSessions(fs, lane, resume, budget)
    : createLaneFixedWindows(fs, lane, resume, budget);
}
