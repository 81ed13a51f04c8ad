import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import type { WindowStates } from './states.js';

export const finite = (t: number) => (Number.isFinite(t) ? t : null);

/**
 * A lane's event-time clock: the highest event time seen, and while idle, the time run on since.
 * Idle: once the lane has had no records for `idleTimeout`, its highest event time becomes the one
 * at its last record plus the processing time since that record, so windows close as they would if
 * events had kept arriving. It is committed like any other when it closes windows, so a replay
 * keeps them closed; an idle tick that closes nothing repeats the last commit (see extractFeatures).
 */
export function eventClock(fs: FeatureSetConfig, start: number) {
  let max = start;
  let atLastRecord = start;
  return {
    get max() {
      return max;
    },
    raise(ts: number) {
      if (ts > max) max = ts;
    },
    /** A record's event time (counted or not: it moves the clock either way). */
    record(ts: number) {
      if (ts > max) max = ts;
      atLastRecord = max;
    },
    idle(idleMs: number) {
      if (fs.idleTimeout === null || idleMs < fs.idleTimeout) return;
      if (atLastRecord + idleMs > max) max = atLastRecord + idleMs;
    },
  };
}

/** A closed window's row; its slot is freed. */
export function featureRow(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  states: WindowStates,
  entity: string,
  slot: number,
  start: number,
  end: number,
): FeatureRow {
  const row: FeatureRow = {
    featureSet: fs.name,
    entity,
    windowStart: start,
    windowEnd: end,
    values: states.values(slot, end - start),
    recordCount: states.count(slot),
    topic: lane.topic,
    partition: lane.partition,
    version: states.maxOffset(slot),
  };
  states.free(slot);
  return row;
}
