import type { FeatureSetConfig } from '../config/index.js';
import type { Ack, Batch, FeatureRow, Lane, OutputRow, RejectedRecord, SourceRecord } from '../core/index.js';
import { featureAggregateNames, toFeatureCompactLine, toFeatureInsertLine } from './featureTables.js';
import {
  compactLinePrefix,
  insertLinePrefix,
  toCompactInsertLine,
  toInsertLine,
  type RowFormat,
} from './rows.js';

/**
 * A batch as storage's buffer holds it: rows already encoded as lines (JSONEachRow or
 * JSONCompactEachRow, see `rowFormat`), joined into one
 * string per batch and table. Encoding when a batch is taken, not when its chunk is written, means the
 * buffer holds a few large strings instead of an object graph per row: less for the garbage
 * collector to copy, and less memory. It is also what a worker thread hands back.
 */
export interface EncodedBatch {
  readonly ack: Ack;
  /** The batch's lane: its topic decides the output table. */
  readonly lane: Lane;
  /** Identifies the batch's content for the insert deduplication token. */
  readonly span: string;
  /** Output rows, one line each, joined with newlines ('' when none). */
  readonly rows: string;
  /** The source of each output row, in the order of `rows`. */
  readonly sources: readonly SourceRecord[];
  readonly rejected: readonly RejectedRecord[];
  /** Feature rows per feature set: [feature set name, lines joined with newlines, row count]. */
  readonly features: readonly (readonly [string, string, number])[];
}

export function batchSpan(lane: { topic: string; partition: number }, first: string, last: string): string {
  return `${lane.topic}\0${lane.partition}\0${first}\0${last}\n`;
}

/** Encodes batches for the given feature sets, in `format` (pure: no I/O, safe in any thread). */
export function batchEncoder(featureSets: readonly FeatureSetConfig[], format: RowFormat) {
  const compact = format === 'JSONCompactEachRow';
  const rowLine = compact ? toCompactInsertLine : toInsertLine;
  const encoders = new Map(
    featureSets.map((fs) => {
      const session = fs.window.type === 'session';
      const names = featureAggregateNames(fs);
      const line = compact
        ? (f: FeatureRow) => toFeatureCompactLine(f, session, names)
        : (f: FeatureRow) => toFeatureInsertLine(f, session);
      return [fs.name, line] as const;
    }),
  );
  return (batch: Batch<OutputRow>): EncodedBatch => {
    const lines = new Array<string>(batch.records.length);
    const sources = new Array<SourceRecord>(batch.records.length);
    const prefix = (compact ? compactLinePrefix : insertLinePrefix)(batch.lane);
    for (let i = 0; i < batch.records.length; i++) {
      const r = batch.records[i]!;
      lines[i] = rowLine(r, prefix);
      sources[i] = r.source;
    }
    const byTable = new Map<string, string[]>();
    for (const f of batch.features ?? []) {
      let list = byTable.get(f.featureSet);
      if (!list) byTable.set(f.featureSet, (list = []));
      list.push(encoders.get(f.featureSet)!(f));
    }
    return {
      ack: batch.ack,
      lane: batch.lane,
      span: batchSpan(batch.lane, batch.firstOffset, batch.lastOffset),
      rows: lines.join('\n'),
      sources,
      rejected: batch.rejected,
      features: [...byTable].map(([name, list]) => [name, list.join('\n'), list.length] as const),
    };
  };
}
