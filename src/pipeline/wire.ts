import {
  KEY,
  NO_HEADERS,
  VALUE,
  type Batch,
  type Lane,
  type PackedRecord,
  type SourceRecord,
  type Stage,
} from '../core/index.js';
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
  /**
   * End of each key and value in `bytes`, or for null its bitwise complement (`~end`, negative; a null
   * takes no bytes). Each one starts where the one before it ends.
   */
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
    if (r.key === null) ends[2 * i] = ~at;
    else {
      bytes.set(r.key, at);
      ends[2 * i] = at += r.key.length;
    }
    if (r.value === null) ends[2 * i + 1] = ~at;
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

/** What the records of one wire batch share. */
interface Unpacked {
  readonly lane: Lane;
  readonly offsets: readonly string[];
  readonly timestamps: Float64Array;
  readonly headers: ReadonlyMap<number, Readonly<Record<string, string>>>;
  readonly packed: Buffer;
  readonly ends: Int32Array;
}

/**
 * A record of a wire batch: its batch's shared parts and its index, nothing of its own (a plain
 * record object, its timestamp as a number apart and a view for its key and one for its value came
 * to about 300 bytes a record). Key and value views are made when read; the decoders and the row
 * encoder read them in the batch's buffer by position instead (see PackedRecord).
 */
class WirePackedRecord implements WireRecord, PackedRecord {
  constructor(
    private readonly batch: Unpacked,
    readonly index: number,
  ) {}

  get topic(): string {
    return this.batch.lane.topic;
  }

  get partition(): number {
    return this.batch.lane.partition;
  }

  get offset(): string {
    return this.batch.offsets[this.index]!;
  }

  get timestamp(): number {
    return this.batch.timestamps[this.index]!;
  }

  get headers(): Readonly<Record<string, string>> {
    return this.batch.headers.get(this.index) ?? NO_HEADERS;
  }

  get packed(): Buffer {
    return this.batch.packed;
  }

  get key(): Buffer | null {
    return this.view(KEY);
  }

  get value(): Buffer | null {
    return this.view(VALUE);
  }

  start(part: typeof KEY | typeof VALUE): number {
    const at = 2 * this.index + part;
    if (at === 0) return 0;
    const before = this.batch.ends[at - 1]!;
    return before < 0 ? ~before : before;
  }

  end(part: typeof KEY | typeof VALUE): number {
    return this.batch.ends[2 * this.index + part]!;
  }

  private view(part: typeof KEY | typeof VALUE): Buffer | null {
    const end = this.end(part);
    return end < 0 ? null : this.batch.packed.subarray(this.start(part), end);
  }

  /** The fields a plain record has (for logs and comparisons). */
  toJSON(): SourceRecord {
    const { topic, partition, offset, key, value, headers, timestamp } = this;
    return { topic, partition, offset, key, value, headers, timestamp };
  }
}

/** The records of a wire batch; see WirePackedRecord. */
export function unpackRecords(wire: WireBatch): WireRecord[] {
  const n = wire.timestamps.length;
  const records = new Array<WireRecord>(n);
  if (n === 0) return records;
  const batch: Unpacked = {
    lane: wire.lane,
    offsets: wire.offsets.split(','),
    timestamps: wire.timestamps,
    headers: new Map(wire.headers),
    packed: Buffer.from(wire.bytes.buffer, wire.bytes.byteOffset, wire.bytes.byteLength),
    ends: wire.ends,
  };
  for (let i = 0; i < n; i++) records[i] = new WirePackedRecord(batch, i);
  return records;
}
