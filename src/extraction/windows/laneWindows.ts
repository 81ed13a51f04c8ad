import type { FeatureSetConfig } from '../../config/index.js';
import type { FeatureRow } from '../../core/index.js';
import { createAggregator, type Aggregator } from './aggregators.js';

interface OpenWindow {
  readonly entity: string;
  readonly start: number;
  readonly end: number;
  readonly aggs: Aggregator[];
  readonly fields: (string | undefined)[];
  count: number;
  minOffset: bigint;
  maxOffset: bigint;
}

export type AddOutcome = 'added' | 'late' | 'accounted' | 'limit';

/** Window starts a timestamp belongs to: one for tumbling windows, size/step for hopping ones. */
export function windowStarts(ts: number, size: number, step: number): number[] {
  const last = Math.floor(ts / step) * step;
  const starts: number[] = [];
  for (let s = last; s > ts - size; s -= step) starts.push(s);
  return starts.reverse();
}

/**
 * One feature set's open windows for one lane, in event time. The watermark is the highest event
 * time seen minus `outOfOrderness`; a window closes when the watermark reaches its end plus
 * `allowedLateness`. A record whose windows are all closed is late. Pure: no clock, no I/O.
 *
 * Replay: `resume` restores the highest event time a lane had seen at its last commit and the offset
 * it had reached (`horizon`). Below the horizon, a record whose windows are closed was accounted
 * for before the crash (stored in a closed window, or dead-lettered as late), so it is skipped;
 * records of open windows rebuild them. Watermarks only move forward, so the same input gives the
 * same rows.
 */
export function createLaneWindows(
  fs: FeatureSetConfig,
  lane: { topic: string; partition: number },
  resume?: { maxEventTime: number; horizon: bigint },
  /** Open windows of this feature set across all lanes, and its ceiling: shared, kept live. */
  budget: { open: number; readonly max: number } = { open: 0, max: Number.POSITIVE_INFINITY },
) {
  const open = new Map<string, OpenWindow>();
  let maxEventTime = resume?.maxEventTime ?? Number.NEGATIVE_INFINITY;
  const horizon = resume?.horizon ?? -1n;
  const size = fs.window.size;
  const step = fs.window.step ?? size;
  const watermark = () => maxEventTime - fs.outOfOrderness;
  const isClosed = (end: number) => end + fs.allowedLateness <= watermark();

  return {
    watermark,
    maxEventTime: () => maxEventTime,
    openWindows: () => open.size,

    add(entity: string, ts: number, offset: bigint, read: (path: string) => unknown): AddOutcome {
      const starts = windowStarts(ts, size, step).filter((start) => !isClosed(start + size));
      const toOpen = starts.filter((start) => !open.has(`${entity}\u0000${start}`)).length;
      if (toOpen > 0 && budget.open + toOpen > budget.max) {
        // Refused whole (never half-counted); its event time still moves the watermark, so windows
        // keep closing and room comes back.
        if (ts > maxEventTime) maxEventTime = ts;
        return 'limit';
      }
      let added = false;
      for (const start of starts) {
        const end = start + size;
        const key = `${entity}\u0000${start}`;
        let w = open.get(key);
        if (!w) {
          budget.open++;
          w = {
            entity,
            start,
            end,
            aggs: fs.aggregations.map(createAggregator),
            fields: fs.aggregations.map((a) => a.field),
            count: 0,
            minOffset: offset,
            maxOffset: offset,
          };
          open.set(key, w);
        }
        w.count++;
        if (offset > w.maxOffset) w.maxOffset = offset;
        for (let i = 0; i < w.aggs.length; i++) {
          const f = w.fields[i];
          w.aggs[i]!.add(f === undefined ? undefined : read(f));
        }
        added = true;
      }
      if (ts > maxEventTime) maxEventTime = ts;
      if (added) return 'added';
      return offset < horizon ? 'accounted' : 'late';
    },

    /** Remove and return the windows the watermark has closed. */
    close(): FeatureRow[] {
      const rows: FeatureRow[] = [];
      for (const [key, w] of open) {
        if (!isClosed(w.end)) continue;
        open.delete(key);
        budget.open--;
        const values: Record<string, unknown> = {};
        for (const agg of w.aggs) Object.assign(values, agg.result(size, w.count));
        rows.push({
          featureSet: fs.name,
          entity: w.entity,
          windowStart: w.start,
          windowEnd: w.end,
          values,
          recordCount: w.count,
          topic: lane.topic,
          partition: lane.partition,
          version: w.maxOffset,
        });
      }
      return rows;
    },

    /** Drop every open window (the lane was reassigned and will be rebuilt from its commit). */
    discard() {
      budget.open -= open.size;
      open.clear();
    },

    /** The lowest offset still needed to rebuild an open window (undefined: none open). */
    minOpenOffset(): bigint | undefined {
      let min: bigint | undefined;
      for (const w of open.values()) if (min === undefined || w.minOffset < min) min = w.minOffset;
      return min;
    },
  };
}

export type LaneWindows = ReturnType<typeof createLaneWindows>;
