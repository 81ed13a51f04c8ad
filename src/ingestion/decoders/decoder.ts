import type { SourceRecord } from '../../core/index.js';

/** A decoded record's fields, or why the bytes cannot be decoded (the record is then dead-lettered). */
export type Decoded = { fields: Record<string, unknown> } | { reason: string };

/**
 * A value format. `prepare` does the batch's I/O up front (e.g. fetching unknown schema ids from a
 * registry, which throws a retryable error when the registry is unreachable); `decode` is then a
 * plain synchronous call per record.
 */
export interface Decoder {
  prepare(records: readonly SourceRecord[]): Promise<void>;
  decode(record: SourceRecord): Decoded;
}
