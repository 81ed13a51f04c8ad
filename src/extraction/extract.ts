import { map, type OperatorFunction } from 'rxjs';
import type { ColumnConfig, FeatureSetConfig } from '../config/index.js';
import {
  PipelineError,
  laneId,
  withRecords,
  type Batch,
  type DecodedRecord,
  type FeatureRow,
  type OutputRow,
  type RejectedRecord,
  type SourceRecord,
} from '../core/index.js';
import { planColumns, projectRecord } from './project.js';
import { createLaneWindows, type LaneWindows } from './windows/laneWindows.js';

function readPath(fields: Record<string, unknown>, path: string): unknown {
  let v: unknown = fields;
  for (const p of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function entityOf(fs: FeatureSetConfig, r: DecodedRecord): string | { reason: string } {
  if (fs.entity === '$key') {
    return r.source.key === null
      ? { reason: `feature set ${fs.name}: the message key (entity) is null` }
      : r.source.key.toString('utf8');
  }
  const v = readPath(r.fields, fs.entity);
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return {
    reason: `feature set ${fs.name}: entity field '${fs.entity}' is ${v === undefined ? 'missing' : 'not a string or number'}`,
  };
}

function eventTimeOf(fs: FeatureSetConfig, r: DecodedRecord): number | { reason: string } {
  if (fs.eventTime === '$timestamp') return r.source.timestamp;
  const v = readPath(r.fields, fs.eventTime);
  const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isFinite(t)) return t;
  return {
    reason: `feature set ${fs.name}: event time field '${fs.eventTime}' is ${v === undefined ? 'missing' : 'not epoch milliseconds or an ISO-8601 date-time'}`,
  };
}

/** Commit metadata: where a lane had got to, so a replay treats closed windows as accounted for. */
interface ResumePoint {
  v: 1;
  /** next offset the lane had processed */
  h: string;
  /** highest event time seen, per feature set */
  t: Record<string, number | null>;
}

function parseResume(metadata: string | null | undefined): ResumePoint | undefined {
  if (!metadata) return undefined;
  try {
    const p = JSON.parse(metadata) as ResumePoint;
    return p.v === 1 ? p : undefined;
  } catch {
    return undefined; // metadata someone else wrote: start fresh
  }
}

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

/**
 * Extraction stage: each record is projected onto the output columns, and fed to every feature set's
 * windows for its lane. Closed windows leave as feature rows on the batch; the batch asks its lane to
 * commit only up to the first record an open window still needs, with the metadata to replay.
 * Pure: state is per lane and depends only on the records in offset order.
 */
export function extractFeatures(
  columns: readonly ColumnConfig[],
  featureSets: readonly FeatureSetConfig[] = [],
  /** Open windows per feature set, kept up to date for the state-size metric. */
  openWindows: Map<string, number> = new Map(),
): OperatorFunction<Batch<DecodedRecord>, Batch<OutputRow>> {
  const columnPlan = planColumns(columns);
  const lanes = new Map<string, LaneWindows[]>();
  const budgets = featureSets.map((fs) => ({ open: 0, max: fs.maxOpenWindows }));

  function laneState(batch: Batch<DecodedRecord>): LaneWindows[] {
    const id = laneId(batch.lane);
    let state = lanes.get(id);
    if (!state || batch.resume) {
      for (const old of state ?? []) old.discard();
      const resume = parseResume(batch.resume?.metadata);
      state = featureSets.map((fs) => {
        const t = resume?.t[fs.name];
        return createLaneWindows(
          fs,
          batch.lane,
          resume ? { maxEventTime: t ?? Number.NEGATIVE_INFINITY, horizon: BigInt(resume.h) } : undefined,
          budgets[featureSets.indexOf(fs)],
        );
      });
      lanes.set(id, state);
    }
    return state;
  }

  return map((batch) => {
    const rows: OutputRow[] = [];
    const rejected: RejectedRecord[] = [];
    const state = featureSets.length > 0 ? laneState(batch) : [];
    next: for (const record of batch.records) {
      const r = projectRecord(columnPlan, record.fields);
      if (!('values' in r)) {
        rejected.push({ source: record.source, stage: 'extraction', reason: r.reason });
        continue;
      }
      const keys: { entity: string; ts: number }[] = [];
      for (const fs of featureSets) {
        const entity = entityOf(fs, record);
        const ts = eventTimeOf(fs, record);
        if (typeof entity !== 'string' || typeof ts !== 'number') {
          const reason = typeof entity !== 'string' ? entity.reason : (ts as { reason: string }).reason;
          rejected.push({ source: record.source, stage: 'extraction', reason });
          continue next;
        }
        keys.push({ entity, ts });
      }
      rows.push({ source: record.source, values: r.values });
      const offset = BigInt(record.source.offset);
      const read = (path: string) => readPath(record.fields, path);
      state.forEach((lane, i) => {
        const wm = lane.watermark();
        const outcome = lane.add(keys[i]!.entity, keys[i]!.ts, offset, read);
        if (outcome === 'late') rejected.push(late(featureSets[i]!, record.source, keys[i]!.ts, wm));
        if (outcome === 'limit') {
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
      });
    }
    if (featureSets.length === 0) return withRecords(batch, rows, rejected);

    const features: FeatureRow[] = [];
    for (const lane of state) features.push(...lane.close());
    featureSets.forEach((fs, i) => openWindows.set(fs.name, budgets[i]!.open));
    const next = BigInt(batch.lastOffset) + 1n;
    let commit = next;
    for (const lane of state) {
      const min = lane.minOpenOffset();
      if (min !== undefined && min < commit) commit = min;
    }
    const point: ResumePoint = {
      v: 1,
      h: next.toString(),
      t: Object.fromEntries(
        featureSets.map((fs, i) => [
          fs.name,
          Number.isFinite(state[i]!.maxEventTime()) ? state[i]!.maxEventTime() : null,
        ]),
      ),
    };
    batch.ack.commitAt(commit, JSON.stringify(point));
    return { ...withRecords(batch, rows, rejected), features };
  });

  function late(fs: FeatureSetConfig, source: SourceRecord, ts: number, wm: number): RejectedRecord {
    return {
      source,
      stage: 'extraction',
      reason: `late for feature set ${fs.name}: event time ${iso(ts)} is past its windows' end plus allowed lateness (watermark ${iso(wm)})`,
    };
  }
}

/** Open windows across all lanes (the state-size metric). */
export type { LaneWindows };
