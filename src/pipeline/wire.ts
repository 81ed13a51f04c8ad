import { NO_HEADERS, type Batch, type Lane, type SourceRecord, type Stage } from '../core/index.js';
import type { EncodedBatch } from '../storage/index.js';

/**
 * A lane batch as it crosses to a worker thread. kafkajs gives each key and value as a view into its
 * fetch response; cloning those views would copy the whole response once per record. So keys and
 * values are copied once into one buffer that is transferred (moved, not copied), with their ends.
 */
export interface WireBatch {
  readonly lane: Lane;
  readonly firstOffset: string;
  readonly lastOffset: string;
  readonly resume?: Batch<SourceRecord>['resume'];
  readonly idleMs?: number;
  readonly seq?: number;
  /** Offsets, comma-separated (as kafkajs gives them: strings, possibly beyond 2^53). */
  readonly offsets: string;
  readonly timestamps: Float64Array;
  /** Keys and values, in record order: key 0, value 0, key 1, value 1, ... */
  readonly bytes: Uint8Array;
  /** End of each key and value in `bytes`; -1 for null (its start is then the previous end). */
  readonly ends: Int32Array;
  /** Headers of the records that have any (not NO_HEADERS): [record index, headers]. */
  readonly headers: readonly (readonly [number, Readonly<Record<string, string>>])[];
}

/** What a worker hands back for one batch: encoded rows, and records by their index in the batch. */
export interface WireResult {
  /** Output rows as storage inserts them (`EncodedBatch.rows`); RowBinary's buffers are transferred. */
  readonly rows: EncodedBatch['rows'];
  /** Index in the batch of each output row's record, in the order of `rows`. */
  readonly rowSources: Int32Array;
  readonly rejected: readonly (readonly [number, Stage, string])[];
  readonly features: EncodedBatch['features'];
  /** `ack.commitAt` calls: [offset, metadata]. */
  readonly commits: readonly (readonly [string, string])[];
}

/** A record rebuilt in a worker: a SourceRecord that knows its index in the batch. */
export interface WireRecord extends SourceRecord {
  readonly index: number;
}

export function packBatch(batch: Batch<SourceRecord>): { wire: WireBatch; transfer: ArrayBuffer[] } {
  const records = batch.records;
  let total = 0;
  for (const r of records) total += (r.key?.length ?? 0) + (r.value?.length ?? 0);
  // Not from Buffer's shared pool: this memory is transferred to the worker whole.
  const bytes = new Uint8Array(new ArrayBuffer(total));
  const ends = new Int32Array(records.length * 2);
  const timestamps = new Float64Array(records.length);
  const offsets = new Array<string>(records.length);
  const headers: [number, Readonly<Record<string, string>>][] = [];
  let at = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.key === null) ends[2 * i] = -1;
    else {
      bytes.set(r.key, at);
      ends[2 * i] = at += r.key.length;
    }
    if (r.value === null) ends[2 * i + 1] = -1;
    else {
      bytes.set(r.value, at);
      ends[2 * i + 1] = at += r.value.length;
    }
    timestamps[i] = r.timestamp;
    offsets[i] = r.offset;
    if (r.headers !== NO_HEADERS) headers.push([i, r.headers]);
  }
  return {
    wire: {
      lane: batch.lane,
      firstOffset: batch.firstOffset,
      lastOffset: batch.lastOffset,
      ...(batch.resume ? { resume: batch.resume } : {}),
      ...(batch.idleMs !== undefined ? { idleMs: batch.idleMs } : {}),
      ...(batch.seq !== undefined ? { seq: batch.seq } : {}),
      offsets: offsets.join(','),
      timestamps,
      bytes,
      ends,
      headers,
    },
    transfer: [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer, timestamps.buffer as ArrayBuffer],
  };
}

/** The records of a wire batch; keys and values are views into its one buffer. */
export function unpackRecords(wire: WireBatch): WireRecord[] {
  const n = wire.timestamps.length;
  const records = new Array<WireRecord>(n);
  if (n === 0) return records;
  const offsets = wire.offsets.split(',');
  const { buffer, byteOffset } = wire.bytes;
  const headers = new Map(wire.headers);
  let at = 0;
  const next = (end: number): Buffer | null => {
    if (end < 0) return null;
    const b = Buffer.from(buffer, byteOffset + at, end - at);
    at = end;
    return b;
  };
  for (let i = 0; i < n; i++) {
    const key = next(wire.ends[2 * i]!);
    const value = next(wire.ends[2 * i + 1]!);
    records[i] = {
      topic: wire.lane.topic,
      partition: wire.lane.partition,
      offset: offsets[i]!,
      key,
      value,
      headers: headers.get(i) ?? NO_HEADERS,
      timestamp: wire.timestamps[i]!,
      index: i,
    };
  }
  return records;
}
