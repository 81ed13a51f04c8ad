import { createHash } from 'node:crypto';
import type { RejectedRecord, SourceRecord } from '../core/index.js';
import { byStorePosition, type BinaryRows, type EncodedBatch } from './encode.js';

/**
 * A chunk's batches gathered per table: output rows and their sources, feature rows per feature
 * set, the dead letters the encoder already made, and the chunk's deduplication token. `tableFor`
 * gives a topic's output table (0 to tables - 1). Apart from the sink's async `write`, which runs
 * once a chunk: V8 compiled that function's per-row loops on the stack (OSR) with everything after them inlined, and the code failed a check after the loop and was
 * compiled again, chunk after chunk, 2-100 ms each (--trace-opt).
 */
export function gatherChunk(
  batches: readonly EncodedBatch[],
  tables: number,
  tableFor: (topic: string) => number,
) {
  // Rows per output table, and every row's source in that order.
  const byTable = Array.from({ length: tables }, () => ({
    blocks: [] as BinaryRows[],
    sources: [] as SourceRecord[],
  }));
  const rejected: RejectedRecord[] = [];
  let refused = 0;
  const features = new Map<string, { blocks: BinaryRows[]; rows: number }>();
  const span = createHash('sha1');
  for (const b of batches.length > 1 ? [...batches].sort(byStorePosition) : batches) {
    const t = byTable[tableFor(b.lane.topic)]!;
    if (b.rows.ends.length > 0) t.blocks.push(b.rows);
    appendAll(t.sources, b.sources);
    for (const r of b.rejected) {
      rejected.push(r);
      // Rows RowBinary's encoder refused (a value that does not fit its column) are storage's.
      if (r.stage === 'storage') refused++;
    }
    for (const [name, rows, n] of b.features) {
      let f = features.get(name);
      if (!f) features.set(name, (f = { blocks: [], rows: 0 }));
      f.blocks.push(rows);
      f.rows += n;
      // An idle tick spans no offsets, and the windows it closes depend on how long the lane was
      // idle: the feature rows themselves go into the token, so two ticks never share one.
      span.update(name).update(rows.bytes);
    }
    span.update(b.span);
  }
  const token = span.digest('hex');
  const sources = byTable.length === 1 ? byTable[0]!.sources : byTable.flatMap((t) => t.sources);
  return { byTable, rejected, refused, features, token, sources };
}

/**
 * Appends `items` to `to`: a loop of its own, so that V8 compiles this small loop while it runs
 * instead of the chunk's whole gathering around it.
 */
function appendAll<T>(to: T[], items: readonly T[]): void {
  for (let i = 0; i < items.length; i++) to.push(items[i]!);
}
