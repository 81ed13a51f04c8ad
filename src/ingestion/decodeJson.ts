import type { OperatorFunction } from 'rxjs';
import { map } from 'rxjs';
import {
  withRecords,
  type Batch,
  type DecodedRecord,
  type RejectedRecord,
  type SourceRecord,
} from '../core/index.js';

/** Decode one Kafka value as a JSON object, or say why it cannot be. */
export function decodeJsonValue(
  value: Buffer | null,
): { fields: Record<string, unknown> } | { reason: string } {
  if (value === null) return { reason: 'empty value (tombstone): nothing to decode' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return { reason: `JSON value is ${kind}, expected an object` };
  }
  return { fields: parsed as Record<string, unknown> };
}

/** Ingestion stage: Kafka messages to decoded records; undecodable ones are rejected with the reason. */
export function decodeJson(): OperatorFunction<Batch<SourceRecord>, Batch<DecodedRecord>> {
  return map((batch) => {
    const records: DecodedRecord[] = [];
    const rejected: RejectedRecord[] = [];
    for (const source of batch.records) {
      const result = decodeJsonValue(source.value);
      if ('fields' in result) records.push({ source, fields: result.fields });
      else rejected.push({ source, stage: 'ingestion', reason: result.reason });
    }
    return withRecords(batch, records, rejected);
  });
}
