import { identity, type OperatorFunction } from 'rxjs';
import type { Batch, DecodedRecord } from '../core/index.js';

/**
 * Transformation stage. The walking skeleton passes records through unchanged; declarative
 * validation, rename, cast, derive, filter and enrich come with the ingestion/transformation issue.
 */
export function transform(): OperatorFunction<Batch<DecodedRecord>, Batch<DecodedRecord>> {
  return identity;
}
