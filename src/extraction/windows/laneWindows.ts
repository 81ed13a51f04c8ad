import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import { createWindowStates, type WindowStates } from './states.js';

export type AddOutcome = 'added' | 'late' | 'accounted' | 'limit';

/** Where a lane had got to at its last commit (from the commit metadata). */
export interface LaneResume {
  /** The offset the lane had reached: below it, records of closed windows were accounted for. */
  readonly horizon: bigint;
  /** The highest event time the lane had at the horizon. */
  readonly maxEventTime: number;
  /** Session windows: the offset replay starts from, and the highest event time just before it. */
  readonly from?: { readonly offset: bigint; readonly maxEventTime: number };
}

/** What a lane's feature set needs committed to replay: where its open windows start, and its clock. */
export interface LaneCheckpoint {
  /** The lowest offset an open window still needs (undefined: none is open). */
  readonly needsFrom: bigint | undefined;
  /** Highest event time at this point (null: none seen). */
  readonly maxEventTime: number | null;
  /** Session windows: the offset replay must start from, and the highest event time just before it. */
  readonly from?: readonly [string, number | null];
}

export interface LaneWindows {
  watermark(): number;
  openWindows(): number;
  add(entity: string, ts: number, offset: bigint, fields: Record<string, unknown>): AddOutcome;
  /** The lane has had no records for `idleMs` (processing time): past the idle timeout, time runs on. */
  idle(idleMs: number): void;
  /** Remove and return the windows the watermark has closed. */
  close(): FeatureRow[];
  /** Drop every open window (the lane was reassigned and will be rebuilt from its commit). */
  discard(): void;
  checkpoint(next: bigint): LaneCheckpoint;
}

/** Open windows of one feature set across all lanes, and its ceiling: shared, kept live. */
export interface WindowBudget {
  open: number;
  readonly max: number;
}

/** Window starts a timestamp belongs to: one for tumbling windows, size/step for hopping ones. */
export function windowStarts(ts: number, size: number, step: number): number[] {
  const last = Math.floor(ts / step) * step;
  const starts: number[] = [];
  for (let s = last; s > ts - size; s -= step) starts.push(s);
  return starts.reverse();
}

const finite = (t: number) => (Number.isFinite(t) ? t : null);

/**
 * A lane's event-time clock: the highest event time seen, and while idle, the time run on since.
 * Idle: once the lane has had no records for `idleTimeout`, its highest event time becomes the one
 * at its last record plus the processing time since that record, so windows close as they would if
 * events had kept arriving. The value is committed like any other, so a replay keeps it.
 */
function eventClock(fs: FeatureSetConfig, start: number) {
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
function featureRow(
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

/**
 * One feature set's open windows for one lane, in event time. The watermark is the highest event
 * time seen minus `outOfOrderness`; a window closes when the watermark reaches its end plus
 * `allowedLateness`. A record whose windows are all closed is late. Pure: no clock, no I/O.
 */
export function createLaneWindows(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume?: LaneResume,
  budget: WindowBudget = { open: 0, max: Number.POSITIVE_INFINITY },
): LaneWindows {
  return fs.window.type === 'session'
    ? createLaneSessions(fs, lane, resume, budget)
    : createLaneFixedWindows(fs, lane, resume, budget);
}

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
function createLaneFixedWindows(
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

interface Session {
  readonly entity: string;
  start: number;
  /** highest event time in the session: it ends at last + gap */
  last: number;
  /** its slot in the lane's window states (count, highest offset, aggregations) */
  readonly slot: number;
  minOffset: bigint;
  /** the lane's highest event time just before the session's first record (by offset) */
  maxBefore: number;
}

/**
 * Session windows: an entity's records belong to one session while each is less than `gap` (event
 * time) from the next; a session spans [first, last + gap) and closes when the watermark reaches its
 * end plus `allowedLateness`. A record that bridges two open sessions merges them.
 *
 * Replay: which session a record joins depends on the records before it, so the lane replays from
 * the first record of its oldest open session (`from`) with the clock it had just before that
 * record; from there it evolves exactly as it did. A session that closes in replay and would have
 * been closed at the horizon (with the clock the lane had there) was accounted for before the
 * crash, and is dropped unwritten: records before `from` may be missing from it. Records that
 * belonged to such a session only ever meet its fragments, never a session open at the horizon.
 */
function createLaneSessions(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume: LaneResume | undefined,
  budget: WindowBudget,
): LaneWindows {
  const sessions = new Map<string, Session[]>();
  let count = 0;
  const horizon = resume?.horizon ?? -1n;
  const atHorizon = resume?.maxEventTime ?? Number.NEGATIVE_INFINITY;
  const from = resume?.from ?? { offset: horizon, maxEventTime: atHorizon };
  const clock = eventClock(fs, from.maxEventTime);
  const gap = fs.window.gap!;
  const lateness = fs.allowedLateness;
  const states = createWindowStates(fs);
  const watermark = () => clock.max - fs.outOfOrderness;
  /** Sessions that had closed by the horizon: already written before the crash. */
  const accountedFor = (s: Session) => s.last + gap + lateness <= atHorizon - fs.outOfOrderness;

  function merge(into: Session, s: Session) {
    if (s.start < into.start) into.start = s.start;
    if (s.last > into.last) into.last = s.last;
    if (s.minOffset < into.minOffset) {
      into.minOffset = s.minOffset;
      into.maxBefore = s.maxBefore;
    }
    states.merge(into.slot, s.slot);
    states.free(s.slot);
  }

  return {
    watermark,
    openWindows: () => count,

    add(entity, ts, offset, record) {
      if (offset < from.offset) return 'accounted';
      // Past the horizon the clock is at least what it was there (it may have run on while idle).
      if (offset >= horizon) clock.raise(atHorizon);
      const wm = watermark();
      let list = sessions.get(entity);
      let target: Session | undefined;
      if (list) {
        for (let i = 0; i < list.length; i++) {
          const s = list[i]!;
          const live = s.last + gap + lateness > wm;
          if (!live || ts >= s.last + gap || s.start >= ts + gap) continue;
          if (!target) target = s;
          else {
            merge(target, s);
            list.splice(i--, 1);
            count--;
            budget.open--;
          }
        }
      }
      if (!target) {
        if (ts + gap + lateness <= wm) {
          clock.record(ts);
          return offset < horizon ? 'accounted' : 'late';
        }
        if (budget.open + 1 > budget.max) {
          clock.record(ts);
          return 'limit';
        }
        target = {
          entity,
          start: ts,
          last: ts,
          slot: states.alloc(),
          minOffset: offset,
          maxBefore: clock.max,
        };
        if (!list) sessions.set(entity, (list = []));
        list.push(target);
        count++;
        budget.open++;
      }
      if (ts < target.start) target.start = ts;
      if (ts > target.last) target.last = ts;
      states.add(target.slot, record, offset);
      clock.record(ts);
      return 'added';
    },

    idle(idleMs) {
      clock.raise(atHorizon);
      clock.idle(idleMs);
    },

    close() {
      const rows: FeatureRow[] = [];
      const wm = watermark();
      for (const [entity, list] of sessions) {
        for (let i = 0; i < list.length; i++) {
          const s = list[i]!;
          // Only a closed session is complete: one still open may yet grow past the horizon.
          if (s.last + gap + lateness > wm) continue;
          list.splice(i--, 1);
          count--;
          budget.open--;
          if (!accountedFor(s))
            rows.push(featureRow(fs, lane, states, entity, s.slot, s.start, s.last + gap));
          else states.free(s.slot);
        }
        if (list.length === 0) sessions.delete(entity);
      }
      return rows;
    },

    discard() {
      budget.open -= count;
      count = 0;
      for (const list of sessions.values()) for (const s of list) states.free(s.slot);
      sessions.clear();
    },

    checkpoint(next) {
      let oldest: Session | undefined;
      for (const list of sessions.values())
        for (const s of list) if (!oldest || s.minOffset < oldest.minOffset) oldest = s;
      const max = Math.max(clock.max, atHorizon);
      return {
        needsFrom: oldest?.minOffset,
        maxEventTime: finite(max),
        from: oldest
          ? [oldest.minOffset.toString(), finite(oldest.maxBefore)]
          : [next.toString(), finite(clock.max)],
      };
    },
  };
}
