import { catchError, EMPTY, mergeMap, of, type OperatorFunction } from 'rxjs';
import type { Batch } from './batch.js';

/**
 * Runs a stage per batch so that a stage throwing on one batch fails that batch alone: its ack is
 * rejected (the lane then refetches it and nothing is committed) and the stream goes on for other lanes.
 * This is not swallowing: the error travels back to the lane with the batch's acknowledgement.
 */
export function guarded<A, B>(stage: OperatorFunction<Batch<A>, Batch<B>>): OperatorFunction<Batch<A>, Batch<B>> {
  return mergeMap((batch: Batch<A>) =>
    of(batch).pipe(
      stage,
      catchError((err: unknown) => {
        batch.ack.reject(err);
        return EMPTY;
      }),
    ),
  );
}
