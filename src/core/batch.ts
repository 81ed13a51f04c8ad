/**
 * The unit of flow: one Batch per kafkajs `eachBatch` call for one partition (a lane).
 * Stages map Batch<In> to Batch<Out>; records that a stage cannot process move to `rejected`
 * with the stage and reason, so every record is stored, rejected, or still in flight.
 */

export interface Lane {
  readonly topic: string;
  readonly partition: number;
}

/** Where a record came from; enough to find it again in Kafka. */
export interface SourcePosition extends Lane {
  readonly offset: string;
}

/** The headers of every record that has none (one shared object: cheap to test for). */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** A raw Kafka message as ingestion received it. */
export interface SourceRecord extends SourcePosition {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Kafka timestamp, milliseconds since the epoch. */
  readonly timestamp: number;
}

/** Part of a record in a packed buffer: its key or its value. */
export const KEY = 0;
export const VALUE = 1;

/**
 * A record whose key and value lie in one buffer with the rest of its batch's (a batch handed to a
 * worker thread). `key` and `value` are views made when first read; a reader that can take bytes
 * by position reads them in `packed` instead, and the record never makes a view (an object of about
 * 100 bytes).
 */
export interface PackedRecord extends SourceRecord {
  readonly packed: Buffer;
  /** Where the key (KEY) or value (VALUE) starts in `packed`. */
  start(part: typeof KEY | typeof VALUE): number;
  /** Where it ends in `packed`; negative when it is null. */
  end(part: typeof KEY | typeof VALUE): number;
}

export const isPacked = (r: SourceRecord): r is PackedRecord => 'packed' in r;

/** A record after decoding: its fields plus where it came from. */
export interface DecodedRecord {
  readonly source: SourceRecord;
  readonly fields: Record<string, unknown>;
}

/** A row for the output table: the declared column values plus the record's source for storage columns. */
export interface OutputRow {
  readonly source: SourceRecord;
  /** Every declared column, keys in the declared order (compact inserts write values in key order). */
  readonly values: Record<string, unknown>;
}

/** A closed window's row, for a feature set's table. */
export interface FeatureRow {
  readonly featureSet: string;
  readonly entity: string;
  /** Window bounds, milliseconds since the epoch. */
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly values: Record<string, unknown>;
  readonly recordCount: number;
  readonly topic: string;
  readonly partition: number;
  /** The highest source offset that contributed: deterministic, so a replayed row replaces itself. */
  readonly version: bigint;
}

export type Stage = 'ingestion' | 'transformation' | 'extraction' | 'storage';

export interface RejectedRecord {
  readonly source: SourceRecord;
  readonly stage: Stage;
  readonly reason: string;
}

/**
 * Acknowledgement travels with the data, in two steps. `accept`: storage has taken the batch into its
 * bounded buffer, so the lane may fetch on (backpressure is the wait for this). `resolve`: every record
 * is stored or dead-lettered, so the lane may commit past it. `reject`: nothing is committed.
 */
export interface Ack {
  /**
   * Commit less than the whole batch once it is stored: windowed features keep records in open
   * windows, so the lane may only commit up to the first of them, with the metadata to replay.
   */
  commitAt(offset: bigint, metadata: string): void;
  accept(): void;
  resolve(): void;
  reject(err: unknown): void;
}

export interface Batch<T> {
  readonly lane: Lane;
  readonly ack: Ack;
  /** Offsets of the first and last Kafka message this batch covers (as kafkajs gives them, strings). */
  readonly firstOffset: string;
  readonly lastOffset: string;
  readonly records: readonly T[];
  readonly rejected: readonly RejectedRecord[];
  /** Records a filter step dropped on purpose (counted in metrics, never silent). */
  readonly filtered: number;
  /**
   * The batch's number in its lane for this group generation (ticks included), from 0. A lane may
   * have two batches in the chain; a stage that keeps lane state refuses one whose predecessor it
   * did not process (that one failed), so it never builds on a gap.
   */
  readonly seq?: number;
  /** Feature rows of windows this batch closed. */
  readonly features?: readonly FeatureRow[];
  /**
   * Set on a lane's first batch after (re)assignment: the commit metadata found for it in Kafka
   * (null when none), from which window state is rebuilt.
   */
  readonly resume?: { readonly metadata: string | null; readonly generation: number };
  /**
   * Set on a tick: a batch without records that a caught-up lane gets while no records arrive, so
   * its windows can close on the idle timeout. How long the lane has had no records (processing time).
   */
  readonly idleMs?: number;
}

/** A new batch with other records, the same source span, and the rejected list extended. */
export function withRecords<T, U>(
  batch: Batch<T>,
  records: readonly U[],
  rejected: readonly RejectedRecord[] = [],
  filtered = 0,
): Batch<U> {
  return {
    lane: batch.lane,
    ack: batch.ack,
    firstOffset: batch.firstOffset,
    lastOffset: batch.lastOffset,
    records,
    rejected: rejected.length === 0 ? batch.rejected : [...batch.rejected, ...rejected],
    filtered: batch.filtered + filtered,
    ...(batch.seq !== undefined ? { seq: batch.seq } : {}),
    ...(batch.features ? { features: batch.features } : {}),
    ...(batch.resume ? { resume: batch.resume } : {}),
    ...(batch.idleMs !== undefined ? { idleMs: batch.idleMs } : {}),
  };
}

export function laneId(lane: Lane): string {
  return `${lane.topic}/${lane.partition}`;
}

/**
 * A Kafka offset's decimal text as a BigInt. Text of up to 15 digits is exact as a number, and
 * going through one takes a third of the time of parsing the text as a BigInt (18 against 57 ns),
 * which extraction does for every record.
 */
export function offsetBigInt(text: string): bigint {
  return text.length < 16 ? BigInt(Number(text)) : BigInt(text);
}

export function describePosition(p: SourcePosition): string {
  return `${p.topic}/${p.partition}@${p.offset}`;
}
