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

/** An entity's slots in the windows that hold a step's records (see `recent`). */
interface Recent {
  readonly start: number;
  readonly slots: readonly number[];
}

/**
 * A bucket the watermark has closed whose windows have not all left yet. From `closedAt` on, the
 * lane refused its records as late; a replay rebuilds it from the records before that.
 */
interface Closing {
  readonly start: number;
  /** undefined: rebuilt in a replay and no record of it seen yet */
  bucket: Bucket | undefined;
  readonly closedAt: bigint;
}

/**
 * How many closed windows leave with a batch: half of what its records could have opened, or a
 * 64th of those waiting, whichever is more. Every user_1m window of the benchmark closes at the same
 * watermark (300,000 at 48,000 records/s); written at once, they held one batch for 1.5-2 s and its
 * insert for longer. At this pace they leave over several seconds, and a lane that opens a window
 * per record still never waits on more than about 64 batches' worth.
 */
const closeRoom = (batchRecords: number, perRecord: number, waiting: number) =>
  Math.max(Math.ceil((batchRecords * perRecord) / 2), Math.ceil(waiting / 64));
/**
 * Past this many closing buckets, all leave at once: each is listed in the commit metadata, which
 * Kafka limits (offset.metadata.max.bytes, 4 KiB by default) for all feature sets together.
 */
const MAX_CLOSING = 4;
/**
 * Closed windows count against `maxOpenWindows` until they leave. So that they do not crowd out new
 * windows, all leave at once while the feature set holds more than this share of it.
 */
const TIGHT_BUDGET = 0.75;

/**
 * Tumbling and hopping windows: a record's windows follow from its event time alone. Windows are
 * kept in buckets by start, so closing visits only the buckets the watermark has passed. Closed
 * windows leave in start order, a batch's share at a time (see closeRoom); until they have, they
 * hold the commit back like open ones.
 *
 * Replay: the lane restarts with the highest event time it had at its horizon. Below the horizon, a
 * record whose windows are closed was accounted for before the crash (stored in a closed window, or
 * dead-lettered as late), so it is skipped; records of open windows rebuild them. A bucket that was
 * closing at the commit is rebuilt from the records the lane took before it closed, and leaves
 * whole once the replay is past them: the windows of it already written are written again, the
 * same rows with the same version, which the feature table's ReplacingMergeTree keeps once.
 */
export function createLaneFixedWindows(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume: LaneResume | undefined,
  budget: WindowBudget,
): LaneWindows {
  const buckets = new Map<number, Bucket>();
  let count = 0;
  /** of which in closing buckets */
  let waiting = 0;
  const clock = eventClock(fs, resume?.maxEventTime ?? Number.NEGATIVE_INFINITY);
  const horizon = resume?.horizon ?? -1n;
  const size = fs.window.size!;
  const step = fs.window.step ?? size;
  const perRecord = Math.ceil(size / step);
  const states = createWindowStates(fs);
  const lateness = fs.allowedLateness;
  const watermark = () => clock.max - fs.outOfOrderness;
  /** In start order: buckets closed by the watermark whose windows have not all left. */
  const closing: Closing[] = [...(resume?.closing ?? [])]
    .sort((a, b) => a[0] - b[0])
    .map(([start, closedAt]) => ({ start, bucket: undefined, closedAt }));
  /** How many of `closing` (at its front) came from the commit: a replay may still bring their records. */
  let replaying = closing.length;
  /** The lowest end plus lateness of an open bucket: the watermark that closes one. */
  let nextClose = Number.POSITIVE_INFINITY;
  /** The offset of the last record the lane took (kept as is: a BigInt sum allocates). */
  let last = -2n;
  // What the first pass over a record's windows found, for the second (no second lookups; -1: none).
  const starts: number[] = [];
  const inBucket: (Bucket | undefined)[] = [];
  const found: number[] = [];
  const rebuilding: (Closing | undefined)[] = [];
  /**
   * Hopping windows: each entity's slots in the windows of the step its last record fell in. A
   * record of the same entity and step joins the same windows (when the size is a whole number of
   * steps), so it takes one lookup instead of two per window. Emptied whenever a window closes.
   */
  const recent = perRecord > 1 && size % step === 0 ? new Map<string, Recent>() : undefined;

  /** Buckets the watermark has passed move to `closing`; the lane refuses their records from `at`. */
  function sweep(at: bigint) {
    const wm = watermark();
    if (wm < nextClose) return;
    const closed: Closing[] = [];
    nextClose = Number.POSITIVE_INFINITY;
    recent?.clear();
    for (const [start, bucket] of buckets) {
      const closesAt = start + size + lateness;
      if (closesAt > wm) {
        if (closesAt < nextClose) nextClose = closesAt;
        continue;
      }
      buckets.delete(start);
      waiting += bucket.windows.size;
      budget.closed += bucket.windows.size;
      closed.push({ start, bucket, closedAt: at });
    }
    closed.sort((a, b) => a.start - b.start);
    for (const c of closed) closing.push(c);
  }

  /** The closing bucket from the commit that starts at `start`, if any. */
  function rebuilt(start: number): Closing | undefined {
    for (let i = 0; i < replaying; i++) if (closing[i]!.start === start) return closing[i];
    return undefined;
  }

  /** A record's event time moves the clock (taken or not); the buckets it closes stop taking. */
  function recordTime(ts: number, offset: bigint) {
    clock.record(ts);
    last = offset;
    if (watermark() >= nextClose) sweep(offset + 1n);
  }

  return {
    watermark,
    openWindows: () => count,

    add(entity, ts, offset, record) {
      const wm = watermark();
      const newest = Math.floor(ts / step) * step;
      // Every window in `recent` is open while the watermark is below the next close.
      if (recent !== undefined && replaying === 0 && wm < nextClose) {
        const r = recent.get(entity);
        if (r !== undefined && r.start === newest) {
          for (let i = 0; i < r.slots.length; i++) states.add(r.slots[i]!, record, offset);
          recordTime(ts, offset);
          return 'added';
        }
      }
      // The windows [start, start + size) that hold ts, newest first; closed ones take nothing,
      // and once one is closed the older ones are too (but for buckets a replay rebuilds).
      let open = 0;
      let toOpen = 0;
      for (let start = newest; start > ts - size; start -= step) {
        let bucket: Bucket | undefined;
        let again: Closing | undefined;
        if (start + size + lateness <= wm) {
          if (replaying === 0) break;
          again = rebuilt(start);
          if (again === undefined || offset >= again.closedAt) continue;
          bucket = again.bucket;
        } else bucket = buckets.get(start);
        const w = bucket?.windows.get(entity) ?? -1;
        starts[open] = start;
        inBucket[open] = bucket;
        found[open] = w;
        rebuilding[open] = again;
        open++;
        if (w < 0) toOpen++;
      }
      if (toOpen > 0 && budget.open + toOpen > budget.max) {
        // Refused whole (never half-counted); its event time still moves the watermark, so windows
        // keep closing and room comes back.
        recordTime(ts, offset);
        return 'limit';
      }
      for (let i = 0; i < open; i++) {
        let w = found[i]!;
        if (w < 0) {
          let bucket = inBucket[i];
          if (!bucket) {
            bucket = { minOffset: offset, windows: new Map() };
            const again = rebuilding[i];
            if (again) again.bucket = bucket;
            else {
              const start = starts[i]!;
              buckets.set(start, bucket);
              if (start + size + lateness < nextClose) nextClose = start + size + lateness;
            }
          }
          budget.open++;
          count++;
          if (rebuilding[i]) {
            waiting++;
            budget.closed++;
          }
          w = states.alloc();
          bucket.windows.set(entity, w);
        }
        inBucket[i] = undefined;
        rebuilding[i] = undefined;
        found[i] = w;
        states.add(w, record, offset);
      }
      if (recent !== undefined && replaying === 0 && open === perRecord) {
        recent.set(entity, { start: newest, slots: found.slice(0, open) });
      }
      recordTime(ts, offset);
      if (open > 0) return 'added';
      return offset < horizon ? 'accounted' : 'late';
    },

    idle: (idleMs) => clock.idle(idleMs),

    close(batchRecords) {
      const reached = last + 1n;
      sweep(reached); // an idle clock may have closed some: every record so far came before
      let room =
        batchRecords === undefined || closing.length > MAX_CLOSING || budget.open >= budget.max * TIGHT_BUDGET
          ? Number.POSITIVE_INFINITY
          : closeRoom(batchRecords, perRecord, waiting);
      const rows: FeatureRow[] = [];
      while (closing.length > 0) {
        const c = closing[0]!;
        if (c.closedAt > reached) break; // rebuilt, and the replay has not yet passed its records
        const windows = c.bucket?.windows;
        if (windows) {
          for (const [entity, w] of windows) {
            if (room <= 0) break;
            room--;
            windows.delete(entity);
            count--;
            waiting--;
            budget.closed--;
            budget.open--;
            rows.push(featureRow(fs, lane, states, entity, w, c.start, c.start + size));
          }
          if (windows.size > 0) break;
        }
        closing.shift();
        if (replaying > 0) replaying--;
      }
      return rows;
    },

    discard() {
      budget.open -= count;
      budget.closed -= waiting;
      count = 0;
      waiting = 0;
      for (const bucket of buckets.values()) for (const w of bucket.windows.values()) states.free(w);
      for (const c of closing) for (const w of c.bucket?.windows.values() ?? []) states.free(w);
      buckets.clear();
      recent?.clear();
      closing.length = 0;
      replaying = 0;
    },

    checkpoint() {
      let min: bigint | undefined;
      for (const b of buckets.values()) if (min === undefined || b.minOffset < min) min = b.minOffset;
      for (const c of closing) {
        const b = c.bucket;
        if (b && (min === undefined || b.minOffset < min)) min = b.minOffset;
      }
      return {
        needsFrom: min,
        maxEventTime: finite(clock.max),
        ...(closing.length > 0
          ? { closing: closing.map((c) => [c.start, c.closedAt.toString()] as const) }
          : {}),
      };
    },
  };
}
