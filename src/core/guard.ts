import { catchError, EMPTY, map, mergeMap, of, type OperatorFunction } from 'rxjs';
import type { Batch } from './batch.js';
import type { ModuleName, StageMeter } from './telemetry.js';

/**
 * Runs a stage per batch so that a stage throwing on one batch fails that batch alone: its ack is
 * rejected (the lane then refetches it and nothing is committed) and the stream goes on for other lanes.
 * This is not swallowing: the error travels back to the lane with the batch's acknowledgement.
 * Records in, out and newly rejected are counted for the module, so stages themselves stay pure.
 */
export function guarded<A, B>(
  stage: OperatorFunction<Batch<A>, Batch<B>>,
  module: ModuleName,
  telemetry: StageMeter,
): OperatorFunction<Batch<A>, Batch<B>> {
  return mergeMap((batch: Batch<A>) => {
    const started = performance.now();
    return of(batch).pipe(
      stage,
      map((out) => {
        telemetry.recordsIn.inc({ module }, batch.records.length);
        telemetry.recordsOut.inc({ module }, out.records.length);
        telemetry.recordsRejected.inc({ module }, out.rejected.length - batch.rejected.length);
        telemetry.recordsFiltered.inc({ module }, out.filtered - batch.filtered);
        telemetry.batchSeconds.observe({ module }, (performance.now() - started) / 1000);
        return out;
      }),
      catchError((err: unknown) => {
        batch.ack.reject(err);
        return EMPTY;
      }),
    );
  });
}
