import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import { eventClock, featureRow, finite } from './clock.js';
import type { LaneResume, LaneWindows, WindowBudget } from './laneWindows.js';
import { createWindowStates } from './states.js';

/**
 * The open windows that start at one time: each entity's slot in the lane's window states. Offsets
 * only grow, so the first is the lowest.
 */
interface Bucket {
  readonly minOffset: bigint;
  readonly windows: Map<string, number>;
}

/**
 * Tumbling and hopping windows: a record's windows follow from its event time alone. Windows are
 * kept in buckets by start, so closing visits only the buckets the watermark has passed.
 *
 * Replay: the lane restarts with the highest event time it had at its horizon. Below the horizon, a
 * record whose windows are closed was accounted for before the crash (stored in a closed window, or
 * dead-lettered as late), so it is skipped; records of open windows rebuild them.
 */
export function createLaneFixedWindows(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume: LaneResume | undefined,
  budget: WindowBudget,
): LaneWindows {
  const buckets = new Map<number, Bucket>();
  let count = 0;
  const clock = eventClock(fs, resume?.maxEventTime ?? Number.NEGATIVE_INFINITY);
  const horizon = resume?.horizon ?? -1n;
  const size = fs.window.size!;
  const step = fs.window.step ?? size;
  const states = createWindowStates(fs);
  const lateness = fs.allowedLateness;
  const watermark = () => clock.max - fs.outOfOrderness;
  // What the first pass over a record's windows found, for the second (no second lookups; -1: none).
  const inBucket: (Bucket | undefined)[] = [];
  const found: number[] = [];

  return {
    watermark,
    openWindows: () => count,

    add(entity, ts, offset, record) {
      const wm = watermark();
      const last = Math.floor(ts / step) * step;
      // The windows [start, start + size) that hold ts, newest first; closed ones take nothing,
      // and once one is closed the older ones are too.
      let open = 0;
      let toOpen = 0;
      for (let start = last; start > ts - size; start -= step) {
        if (start + size + lateness <= wm) break;
        const bucket = buckets.get(start);
        const w = bucket?.windows.get(entity) ?? -1;
        inBucket[open] = bucket;
        found[open] = w;
        open++;
        if (w < 0) toOpen++;
      }
      if (toOpen > 0 && budget.open + toOpen > budget.max) {
        // Refused whole (never half-counted); its event time still moves the watermark, so windows
        // keep closing and room comes back.
        clock.record(ts);
        return 'limit';
      }
      for (let i = 0, start = last; i < open; i++, start -= step) {
        let w = found[i]!;
        if (w < 0) {
          let bucket = inBucket[i];
          if (!bucket) buckets.set(start, (bucket = { minOffset: offset, windows: new Map() }));
          budget.open++;
          count++;
          w = states.alloc();
          bucket.windows.set(entity, w);
        }
        inBucket[i] = undefined;
        states.add(w, record, offset);
      }
      clock.record(ts);
      if (open > 0) return 'added';
      return offset < horizon ? 'accounted' : 'late';
    },

    idle: (idleMs) => clock.idle(idleMs),

    close() {
      const rows: FeatureRow[] = [];
      const wm = watermark();
      for (const [start, bucket] of buckets) {
        if (start + size + lateness > wm) continue;
        buckets.delete(start);
        count -= bucket.windows.size;
        budget.open -= bucket.windows.size;
        for (const [entity, w] of bucket.windows)
          rows.push(featureRow(fs, lane, states, entity, w, start, start + size));
      }
      return rows;
    },

    discard() {
      budget.open -= count;
      count = 0;
      for (const bucket of buckets.values()) for (const w of bucket.windows.values()) states.free(w);
      buckets.clear();
    },

    checkpoint() {
      let min: bigint | undefined;
      for (const b of buckets.values()) if (min === undefined || b.minOffset < min) min = b.minOffset;
      return { needsFrom: min, maxEventTime: finite(clock.max) };
    },
  };
}
