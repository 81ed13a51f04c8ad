import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import { eventClock, featureRow, finite } from './clock.js';
import type { LaneResume, LaneWindows, WindowBudget } from './laneWindows.js';
import { createWindowStates } from './states.js';

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
export function createLaneSessions(
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
