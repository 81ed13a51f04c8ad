import { describe, expect, it } from 'vitest';
import type { FeatureSetConfig } from '../../config/index.js';
import { configWithFeatures } from '../../testing/config.js';
import { createLaneWindows, windowStarts } from './laneWindows.js';

function featureSet(over: Record<string, unknown> = {}): FeatureSetConfig {
  return configWithFeatures([
    {
      name: 'f',
      entity: 'user',
      eventTime: 'ts',
      window: { type: 'tumbling', size: '10s' },
      aggregations: [
        { name: 'n', fn: 'count' },
        { name: 'total', fn: 'sum', field: 'amount' },
        { name: 'mean', fn: 'avg', field: 'amount' },
        { name: 'sd', fn: 'stddev', field: 'amount' },
        { name: 'lo', fn: 'min', field: 'amount' },
        { name: 'first_amount', fn: 'first', field: 'amount' },
        { name: 'kinds', fn: 'count_distinct', field: 'kind' },
        { name: 'per_s', fn: 'rate' },
      ],
      ...over,
    },
  ]).features[0]!;
}

const lane = { topic: 't', partition: 0 };
const read = (fields: Record<string, unknown>) => fields;

describe('windowStarts', () => {
  it('gives one start for tumbling windows and size/step starts for hopping ones', () => {
    expect(windowStarts(12_500, 10_000, 10_000)).toEqual([10_000]);
    expect(windowStarts(12_500, 10_000, 5_000)).toEqual([5_000, 10_000]);
    expect(windowStarts(10_000, 10_000, 5_000)).toEqual([5_000, 10_000]);
  });
});

describe('lane windows', () => {
  it('aggregates a window and emits it once the watermark passes its end plus lateness', () => {
    const w = createLaneWindows(featureSet({ outOfOrderness: '2s', allowedLateness: '1s' }), lane);
    w.add('u1', 1_000, 0n, read({ amount: 2, kind: 'a' }));
    w.add('u1', 3_000, 1n, read({ amount: 4, kind: 'b' }));
    w.add('u1', 12_000, 2n, read({ amount: 1, kind: 'a' })); // watermark 10s: window [0,10) needs 11s
    expect(w.close()).toEqual([]);
    expect(w.add('u1', 9_000, 3n, read({ amount: 6, kind: 'a' }))).toBe('added'); // out of order, in time
    w.add('u2', 13_000, 4n, read({ amount: 1 })); // watermark 11s: [0,10) closes
    expect(w.add('u1', 5_000, 5n, read({ amount: 100 }))).toBe('late');
    const [row] = w.close();
    expect(row).toEqual({
      featureSet: 'f',
      entity: 'u1',
      windowStart: 0,
      windowEnd: 10_000,
      values: expect.objectContaining({
        n: 3,
        total: 12,
        mean: 4,
        lo: 2,
        first_amount: '2',
        kinds: 2,
        per_s: 0.3,
      }),
      recordCount: 3,
      topic: 't',
      partition: 0,
      version: 3n,
    });
    expect(row!.values.sd).toBeCloseTo(Math.sqrt(8 / 3), 12);
    expect(w.checkpoint(4n).needsFrom).toBe(2n);
  });

  it('closes a window exactly when the watermark reaches its end plus the allowed lateness', () => {
    const w = createLaneWindows(featureSet({ outOfOrderness: '2s', allowedLateness: '1s' }), lane);
    w.add('u1', 1_000, 0n, read({}));
    w.add('u1', 12_999, 1n, read({})); // watermark 10.999 s: [0,10) still open
    expect(w.add('u1', 9_000, 2n, read({}))).toBe('added');
    w.add('u1', 13_000, 3n, read({})); // watermark 11 s = end 10 s + lateness 1 s: closed
    expect(w.add('u1', 9_500, 4n, read({}))).toBe('late');
    expect(w.close().map((r) => [r.windowStart, r.recordCount])).toEqual([[0, 2]]);
  });

  it('on replay, treats records of windows closed before the commit as accounted for, not late', () => {
    const fs = featureSet();
    const w = createLaneWindows(fs, lane, { maxEventTime: 25_000, horizon: 10n });
    expect(w.add('u1', 5_000, 4n, read({}))).toBe('accounted'); // below the horizon: counted before the crash
    expect(w.add('u1', 21_000, 5n, read({}))).toBe('added'); // its window [20,30) was open: rebuilt
    expect(w.add('u1', 6_000, 10n, read({}))).toBe('late'); // at the horizon: new, and late
  });
});

describe('open-window ceiling', () => {
  it('refuses to open a window past maxOpenWindows, counted across lanes, and frees room as windows close', () => {
    const fs = featureSet({ maxOpenWindows: 2 });
    const budget = { open: 0, closed: 0, max: fs.maxOpenWindows };
    const a = createLaneWindows(fs, { topic: 't', partition: 0 }, undefined, budget);
    const b = createLaneWindows(fs, { topic: 't', partition: 1 }, undefined, budget);
    expect(a.add('u1', 1_000, 0n, read({}))).toBe('added');
    expect(b.add('u2', 1_000, 0n, read({}))).toBe('added');
    expect(b.add('u3', 1_000, 1n, read({}))).toBe('limit');
    expect(a.add('u1', 2_000, 1n, read({}))).toBe('added'); // an open window still takes records
    // At the ceiling, a record that needs a new window is refused, but its event time still moves
    // the watermark: [0,10) of lane a closes and frees room.
    expect(a.add('u1', 20_000, 2n, read({}))).toBe('limit');
    expect(a.close()).toHaveLength(1);
    expect(budget.open).toBe(1);
    expect(a.add('u1', 20_500, 3n, read({}))).toBe('added');
    expect(budget.open).toBe(2);
    b.discard();
    expect(budget.open).toBe(1);
  });
});

describe('session windows', () => {
  const sessions = (over: Record<string, unknown> = {}) =>
    featureSet({
      window: { type: 'session', gap: '5s' },
      aggregations: [
        { name: 'n', fn: 'count' },
        { name: 'total', fn: 'sum', field: 'amount' },
        { name: 'first_kind', fn: 'first', field: 'kind' },
        { name: 'last_kind', fn: 'last', field: 'kind' },
        { name: 'kinds', fn: 'count_distinct', field: 'kind' },
        { name: 'per_s', fn: 'rate' },
      ],
      ...over,
    });

  it('keeps an entity in one session while its records are less than the gap apart', () => {
    const w = createLaneWindows(sessions(), lane);
    w.add('u1', 10_000, 0n, { amount: 1, kind: 'a' });
    w.add('u1', 14_999, 1n, { amount: 2, kind: 'b' }); // 4.999 s later: same session
    w.add('u2', 12_000, 2n, { amount: 5, kind: 'c' });
    w.add('u1', 19_999, 3n, { amount: 3, kind: 'a' }); // exactly the gap after 14.999: a new session
    // [first, last + gap): closed once the watermark (19.999 s) reaches its end
    expect(w.close().map((r) => [r.entity, r.windowStart, r.windowEnd, r.recordCount])).toEqual([
      ['u1', 10_000, 19_999, 2],
      ['u2', 12_000, 17_000, 1],
    ]);
    expect(w.openWindows()).toBe(1);
    w.add('u3', 40_000, 4n, {});
    const [row] = w.close();
    expect([row!.entity, row!.windowStart, row!.windowEnd]).toEqual(['u1', 19_999, 24_999]);
    expect(row!.values).toMatchObject({ n: 1, per_s: 1 / 5 });
  });

  it('merges two sessions that a record bridges, with first/last in offset order', () => {
    const w = createLaneWindows(sessions({ outOfOrderness: '20s' }), lane);
    w.add('u1', 18_000, 0n, { amount: 1, kind: 'late-start' });
    w.add('u1', 10_000, 1n, { amount: 2, kind: 'early' }); // 8 s apart: two sessions
    expect(w.openWindows()).toBe(2);
    w.add('u1', 14_000, 2n, { amount: 4, kind: 'bridge' }); // 4 s from both: one session
    expect(w.openWindows()).toBe(1);
    w.add('u9', 60_000, 3n, {});
    const [row] = w.close();
    expect(row).toMatchObject({
      entity: 'u1',
      windowStart: 10_000,
      windowEnd: 23_000,
      recordCount: 3,
      version: 2n,
      values: { n: 3, total: 7, first_kind: 'late-start', last_kind: 'bridge', kinds: 3, per_s: 3 / 13 },
    });
  });

  it('dead-letters a record whose session would already be closed, and never reopens a closed one', () => {
    const w = createLaneWindows(sessions({ allowedLateness: '1s' }), lane);
    w.add('u1', 10_000, 0n, {});
    w.add('u2', 16_000, 1n, {}); // watermark 16 s = 10 + 5 + 1: u1's session closed
    expect(w.add('u1', 9_000, 2n, {})).toBe('late'); // its own session [9, 14) + 1 s is closed too
    expect(w.add('u1', 11_000, 3n, {})).toBe('added'); // [11, 16) + 1 s is still open: a new session
    expect(w.close().map((r) => [r.windowStart, r.recordCount])).toEqual([[10_000, 1]]);
  });
});

describe('closed fixed windows leaving over several batches', () => {
  it('lets a batch take half its records or a 64th of those waiting, holds the commit until all left, and refuses late records', () => {
    const w = createLaneWindows(featureSet(), lane);
    for (let i = 0; i < 1000; i++) w.add(`u${i}`, 1_000 + i, BigInt(i), {});
    w.add('u0', 25_000, 1000n, {}); // watermark 20 s: all 1000 windows of [0, 10) are closed
    expect(w.add('u1', 2_000, 1001n, {})).toBe('late'); // closed, though not yet written
    const first = w.close(100);
    expect(first.map((r) => r.entity)).toEqual(Array.from({ length: 50 }, (_, i) => `u${i}`));
    const cp = w.checkpoint(1002n);
    expect(cp.needsFrom).toBe(0n); // the rest still needs its records
    expect(cp.closing).toEqual([[0, '1001']]); // closed from offset 1001 on: 1001 was refused
    expect(w.openWindows()).toBe(951);
    expect(w.close(1)).toHaveLength(15); // 950 / 64
    expect(w.close()).toHaveLength(935); // a tick: the rest
    expect(w.checkpoint(1002n)).toEqual({ needsFrom: 1000n, maxEventTime: 25_000 });
  });
});

describe('closed fixed windows and maxOpenWindows', () => {
  it('lets every closed window leave at once past three quarters of the budget', () => {
    const budget = { open: 0, closed: 0, max: 1400 };
    const w = createLaneWindows(featureSet(), lane, undefined, budget);
    for (let i = 0; i < 1000; i++) w.add(`u${i}`, 1_000 + i, BigInt(i), {});
    w.add('u0', 25_000, 1000n, {}); // closes [0, 10): 1000 waiting + 1 open = 1001 < 1050
    expect(w.close(10)).toHaveLength(16); // paced: 1000 / 64
    for (let i = 0; i < 100; i++) w.add(`v${i}`, 25_000, BigInt(1001 + i), {}); // 984 waiting + 101 open = 1085
    expect(w.close(10)).toHaveLength(984); // past 1050: all of them
    expect(budget.open).toBe(101);
  });
});

describe('idle timeout', () => {
  it('lets a lane with no records run its event time on with the clock, past the timeout only', () => {
    const w = createLaneWindows(featureSet({ idleTimeout: '30s' }), lane);
    w.add('u1', 1_000, 0n, {});
    w.idle(29_999);
    expect(w.close()).toEqual([]);
    w.idle(30_000); // highest event time 1 s + 30 s: [0, 10) closes
    expect(w.close().map((r) => r.windowStart)).toEqual([0]);
    expect(w.checkpoint(1n).maxEventTime).toBe(31_000);
  });

  it('can be switched off', () => {
    const w = createLaneWindows(featureSet({ idleTimeout: 'off' }), lane);
    w.add('u1', 1_000, 0n, {});
    w.idle(86_400_000);
    expect(w.close()).toEqual([]);
  });
});

describe('hopping windows against a reference', () => {
  it('adds a record to none of its windows that closed since the last record of its entity and step', () => {
    const fs = featureSet({ window: { type: 'hopping', size: '30s', step: '10s' }, outOfOrderness: '5s' });
    const w = createLaneWindows(fs, lane);
    w.add('e1', 21_000, 0n, {}); // windows from 0, 10 and 20 s
    w.add('e2', 36_000, 1n, {}); // watermark 31 s: [0, 30) closes
    expect(w.add('e1', 22_000, 2n, {})).toBe('added'); // to [10, 40) and [20, 50) only
    expect(w.close().map((r) => [r.entity, r.windowStart, r.recordCount])).toEqual([['e1', 0, 1]]);
  });

  it('gives each window the records it held while open, with out-of-order and late records and closes in between', () => {
    const size = 30_000;
    const step = 10_000;
    const ooo = 5_000;
    const fs = featureSet({
      window: { type: 'hopping', size: '30s', step: '10s' },
      outOfOrderness: '5s',
      aggregations: [
        { name: 'n', fn: 'count' },
        { name: 'total', fn: 'sum', field: 'amount' },
      ],
    });
    const w = createLaneWindows(fs, lane);
    // A fixed pseudo-random walk (the same on every run): mostly forward, some records 0-25 s behind.
    let seed = 7;
    const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const expected = new Map<string, { n: number; total: number }>();
    const got = new Map<string, { n: number; total: number }>();
    const take = (rows: ReturnType<typeof w.close>) => {
      for (const r of rows) {
        const key = `${r.entity}@${r.windowStart}`;
        expect(got.has(key)).toBe(false); // each window leaves once
        got.set(key, { n: r.values.n as number, total: r.values.total as number });
      }
    };
    let max = Number.NEGATIVE_INFINITY;
    let now = 0;
    // Now and then a run of records of one entity from 3-15 s back, between current ones of others.
    let behind = 0;
    let back = 'e0';
    let backTo = 0;
    for (let i = 0; i < 5000; i++) {
      now += Math.floor(random() * 400);
      if (behind === 0 && random() < 0.05) {
        behind = 4 + Math.floor(random() * 12);
        back = `e${Math.floor(random() * 3)}`;
        backTo = now - 3_000 - Math.floor(random() * 12_000);
      }
      const late = behind > 0 && random() < 0.5;
      if (late) behind--;
      const ts = late ? backTo + Math.floor(random() * 2_000) : now;
      const entity = late ? back : `e${Math.floor(random() * 3)}`;
      const amount = i + 1;
      // The windows holding ts that are still open before this record moves the watermark.
      const open: number[] = [];
      for (let start = Math.floor(ts / step) * step; start > ts - size; start -= step)
        if (start + size > max - ooo) open.push(start);
      max = Math.max(max, ts);
      const status = w.add(entity, ts, BigInt(i), { amount });
      expect(status).toBe(open.length > 0 ? 'added' : 'late');
      for (const start of open) {
        const e = expected.get(`${entity}@${start}`) ?? { n: 0, total: 0 };
        expected.set(`${entity}@${start}`, { n: e.n + 1, total: e.total + amount });
      }
      if (i % 50 === 0) take(w.close(20));
    }
    w.add('other', now + 10 * size, 5000n, { amount: 0 }); // closes every window above
    take(w.close());
    expect(got.size).toBeGreaterThan(100);
    expect(new Map([...got].filter(([k]) => !k.startsWith('other')))).toEqual(expected);
  });
});
