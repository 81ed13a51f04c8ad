import type { FeatureSetConfig } from '../config/index.js';
import {
  describeValue,
  errorMessage,
  isPacked,
  KEY,
  type Ack,
  type Batch,
  type FeatureRow,
  type Lane,
  type OutputRow,
  type RejectedRecord,
  type SourceRecord,
} from '../core/index.js';
import { featureRowWriter } from './featureTables.js';
import { ByteWriter } from './byteWriter.js';
import { rowWriter, type ColumnFailure } from './rowBinary.js';
import { storedType } from './schema.js';

/** Rows in RowBinary: the bytes, and where each row ends in them. */
export interface BinaryRows {
  readonly bytes: Uint8Array;
  readonly ends: Int32Array;
}

/**
 * A batch as storage's buffer holds it: rows already encoded in RowBinary, one block per batch and
 * table. Encoding when a batch is taken, not when its chunk is written, means the buffer holds a
 * few large blocks instead of an object graph per row: less for the garbage collector to copy, and
 * less memory. It is also what a worker thread hands back.
 */
export interface EncodedBatch {
  readonly ack: Ack;
  /** The batch's lane: its topic decides the output table. */
  readonly lane: Lane;
  /** Identifies the batch's content for the insert deduplication token. */
  readonly span: string;
  /** Output rows. */
  readonly rows: BinaryRows;
  /** The source of each output row, in the order of `rows`. */
  readonly sources: readonly SourceRecord[];
  readonly rejected: readonly RejectedRecord[];
  /** Feature rows per feature set: [feature set name, its rows, row count]. */
  readonly features: readonly (readonly [string, BinaryRows, number])[];
}

/** The output tables an encoder writes rows for: their declared columns, and which one a topic's rows go to. */
export interface EncoderTables {
  readonly outputs: readonly { readonly columns: readonly { name: string; type: string }[] }[];
  readonly tableFor: (topic: string) => number;
}

export function batchSpan(lane: { topic: string; partition: number }, first: string, last: string): string {
  return `${lane.topic}\0${lane.partition}\0${first}\0${last}\n`;
}

/**
 * Orders batches as the output table's sorting key, (_topic, _partition, _offset), orders rows: by
 * lane, then by the offset of the first row. A lane's rows come in offset order, so the rows of a
 * chunk's batches taken in this order are sorted already, and ClickHouse skips sorting the block
 * it inserts (MergeTreeDataWriterBlocksAlreadySorted). Sorting and permuting 65,536 rows took about
 * a third of the 18.16 server's CPU for such an insert. Batches without rows come first; the sort is
 * stable, so equal batches keep their order and the chunk's token stays the same on a retry.
 */
export function byStorePosition(a: EncodedBatch, b: EncodedBatch): number {
  if (a.lane.topic !== b.lane.topic) return a.lane.topic < b.lane.topic ? -1 : 1;
  if (a.lane.partition !== b.lane.partition) return a.lane.partition - b.lane.partition;
  const x = a.sources[0]?.offset ?? '';
  const y = b.sources[0]?.offset ?? '';
  // Offsets are decimal strings without leading zeros: the shorter is the smaller.
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Writes the rows of batches in RowBinary: the source columns, then the declared ones in order. A
 * row whose value does not fit its column (conversion makes sure they do; this is the last guard)
 * is left out and rejected with the reason, as ClickHouse's refusal of a JSON line would be.
 */
function binaryRows(tables: EncoderTables, writer: ByteWriter) {
  // Per output table: its declared columns' names, and their values' writer.
  const columns = tables.outputs.map((o) => ({
    names: o.columns.map((c) => c.name),
    write: rowWriter(o.columns.map((c) => ({ name: c.name, type: storedType(c.type) }))),
  }));
  return (batch: Batch<OutputRow>, sources: SourceRecord[], rejected: RejectedRecord[]): BinaryRows => {
    const w = writer;
    const cols = columns[tables.tableFor(batch.lane.topic)]!;
    const topic = Buffer.from(batch.lane.topic, 'utf8');
    const ends = new Int32Array(batch.records.length);
    let n = 0;
    for (const r of batch.records) {
      const s = r.source;
      const start = w.pos;
      // A Kafka timestamp of -1 (no timestamp: the pre-0.10 message format) does not fit UInt64:
      // refused, as ClickHouse refuses it in a JSON line, rather than wrapped to 2^64 - 1.
      if (!(s.timestamp >= 0 && Number.isSafeInteger(s.timestamp))) {
        const reason = `column _timestamp_ms: ${describeValue(s.timestamp)} is not a UInt64 value`;
        rejected.push({ source: s, stage: 'storage', reason });
        continue;
      }
      w.bytes(topic);
      w.u32(batch.lane.partition);
      w.i64Text(s.offset, false);
      w.u64FromSafe(s.timestamp);
      if (isPacked(s)) {
        const end = s.end(KEY);
        if (end < 0) w.u8(1);
        else {
          w.u8(0);
          w.bytesOf(s.packed, s.start(KEY), end);
        }
      } else if (s.key === null) w.u8(1);
      else {
        w.u8(0);
        w.bytes(s.key);
      }
      try {
        cols.write(w, r.values);
      } catch (err) {
        w.pos = start;
        const { column, cause } = err as ColumnFailure;
        rejected.push({
          source: s,
          stage: 'storage',
          reason: `column ${cols.names[column]}: ${errorMessage(cause)}`,
        });
        continue;
      }
      ends[n++] = w.pos;
      sources.push(s);
    }
    return { bytes: writer.take(), ends: n === ends.length ? ends : ends.slice(0, n) };
  };
}

/** A feature set's rows of a batch. */
function featureEncoder(fs: FeatureSetConfig, writer: ByteWriter) {
  const write = featureRowWriter(fs);
  return (rows: readonly FeatureRow[]): BinaryRows => {
    const ends = new Int32Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      write(writer, rows[i]!);
      ends[i] = writer.pos;
    }
    return { bytes: writer.take(), ends };
  };
}

/** Encodes batches for the given feature sets (pure: no I/O, safe in any thread). */
export function batchEncoder(featureSets: readonly FeatureSetConfig[], tables: EncoderTables) {
  // One buffer for a batch's output rows and then its feature rows: each takes its bytes out.
  const writer = new ByteWriter();
  const encoders = new Map(featureSets.map((fs) => [fs.name, featureEncoder(fs, writer)] as const));
  const binary = binaryRows(tables, writer);
  return (batch: Batch<OutputRow>): EncodedBatch => {
    const sources: SourceRecord[] = [];
    const refused: RejectedRecord[] = [];
    const rows = binary(batch, sources, refused);
    const rejected = refused.length > 0 ? [...batch.rejected, ...refused] : batch.rejected;
    const byTable = new Map<string, FeatureRow[]>();
    for (const f of batch.features ?? []) {
      let list = byTable.get(f.featureSet);
      if (!list) byTable.set(f.featureSet, (list = []));
      list.push(f);
    }
    return {
      ack: batch.ack,
      lane: batch.lane,
      span: batchSpan(batch.lane, batch.firstOffset, batch.lastOffset),
      rows,
      sources,
      rejected,
      features: [...byTable].map(([name, list]) => [name, encoders.get(name)!(list), list.length] as const),
    };
  };
}
