import { describePosition, type Logger, type RejectedRecord, type SourceRecord } from '../core/index.js';
import { classifyClickHouseError } from './classify.js';
import type { BinaryRows } from './encode.js';

/** Inserts blocks of rows into one table, with a deduplication token. */
export type InsertBlocks = (blocks: readonly BinaryRows[], token: string) => Promise<void>;

/**
 * Insert rows; when ClickHouse rejects them as bad data, split in halves until the bad rows are
 * isolated, store the rest, and return the bad rows as rejected with ClickHouse's reason. `sources`
 * holds each row's record, in the order of the blocks' rows. Each half gets a token of its own.
 */
export async function insertIsolatingPoison(
  insert: InsertBlocks,
  blocks: readonly BinaryRows[],
  sources: readonly SourceRecord[],
  token: string,
  logger: Logger,
): Promise<RejectedRecord[]> {
  if (sources.length === 0) return [];
  try {
    await insert(blocks, token);
    return [];
  } catch (err) {
    const e = classifyClickHouseError(err);
    if (e.kind !== 'poison') throw e;
    if (sources.length === 1) {
      logger.warn(
        { position: describePosition(sources[0]!), reason: e.message },
        'row rejected by ClickHouse',
      );
      return [{ source: sources[0]!, stage: 'storage', reason: e.message }];
    }
    const rows = blocks.length === sources.length ? blocks : oneRowEach(blocks);
    const mid = rows.length >>> 1;
    return [
      ...(await insertIsolatingPoison(
        insert,
        rows.slice(0, mid),
        sources.slice(0, mid),
        `${token}/a`,
        logger,
      )),
      ...(await insertIsolatingPoison(insert, rows.slice(mid), sources.slice(mid), `${token}/b`, logger)),
    ];
  }
}

/** The rows of blocks (a batch's rows for one table each), one a block. */
function oneRowEach(blocks: readonly BinaryRows[]): BinaryRows[] {
  const rows: BinaryRows[] = [];
  for (const b of blocks) {
    let start = 0;
    for (const end of b.ends) {
      rows.push({ bytes: b.bytes.subarray(start, end), ends: Int32Array.of(end - start) });
      start = end;
    }
  }
  return rows;
}
