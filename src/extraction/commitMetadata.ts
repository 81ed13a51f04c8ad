import type { FeatureSetConfig } from '../config/index.js';
import type { LaneResume } from './windows/laneWindows.js';

/** Commit metadata: where a lane had got to, so a replay treats closed windows as accounted for. */
export interface ResumePoint {
  v: 1;
  /** the offset the lane had reached (never less than a previous commit's: replays keep it) */
  h: string;
  /** highest event time at h, per feature set */
  t: Record<string, number | null>;
  /** session feature sets: the offset replay starts from, and the highest event time just before it */
  s?: Record<string, readonly [string, number | null]>;
  /** fixed-window feature sets: buckets closed but not all written, [start, offset closed at] */
  c?: Record<string, readonly (readonly [number, string])[]>;
}

/**
 * Kafka refuses a commit whose metadata is longer than the broker's `offset.metadata.max.bytes`
 * (4096 by default), and the lane's commits would stop advancing. Names are identifiers (ASCII), so
 * characters are bytes.
 */
export const METADATA_MAX_BYTES = 4096;

/**
 * The longest metadata these feature sets can need without closing buckets (those can always be
 * written out instead): every offset and event time at its widest.
 */
function metadataWorstCase(featureSets: readonly FeatureSetConfig[]): number {
  const offset = (2n ** 63n - 1n).toString();
  const time = -8.64e15; // the earliest Date, the widest event time
  const point: ResumePoint = { v: 1, h: offset, t: {} };
  for (const fs of featureSets) {
    point.t[fs.name] = time;
    if (fs.window.type === 'session') (point.s ??= {})[fs.name] = [offset, time];
  }
  return JSON.stringify(point).length;
}

/** Why these feature sets cannot run (their commit metadata could pass Kafka's limit), if so. */
export function commitMetadataProblem(featureSets: readonly FeatureSetConfig[]): string | undefined {
  const worst = metadataWorstCase(featureSets);
  return worst > METADATA_MAX_BYTES
    ? `features: ${featureSets.length} feature sets need up to ${worst} bytes of commit metadata, over Kafka's ${METADATA_MAX_BYTES} (offset.metadata.max.bytes); use fewer feature sets or shorter names`
    : undefined;
}

export function parseResume(metadata: string | null | undefined): ResumePoint | undefined {
  if (!metadata) return undefined;
  try {
    const p = JSON.parse(metadata) as ResumePoint;
    return p.v === 1 ? p : undefined;
  } catch {
    return undefined; // metadata someone else wrote: start fresh
  }
}

export function laneResume(point: ResumePoint | undefined, fs: FeatureSetConfig): LaneResume | undefined {
  if (!point) return undefined;
  const t = point.t[fs.name] ?? Number.NEGATIVE_INFINITY;
  const from = point.s?.[fs.name];
  const closing = point.c?.[fs.name];
  return {
    horizon: BigInt(point.h),
    maxEventTime: t,
    ...(from ? { from: { offset: BigInt(from[0]), maxEventTime: from[1] ?? Number.NEGATIVE_INFINITY } } : {}),
    ...(closing ? { closing: closing.map(([start, at]) => [start, BigInt(at)] as const) } : {}),
  };
}

/** A commit a lane asks for: the offset, and its metadata as sent and as an object. */
export interface Checkpoint {
  readonly offset: bigint;
  readonly metadata: string;
  readonly point: ResumePoint;
}

/** A resume point without its event times: what else a commit says (to tell whether only the clock moved). */
export const withoutTimes = (point: ResumePoint) => JSON.stringify({ ...point, t: undefined });
