import { describe, expect, it } from 'vitest';
import { validateConfig, type FeatureSetConfig } from '../../config/index.js';
import { createLaneWindows, windowStarts } from './laneWindows.js';

function featureSet(over: Record<string, unknown> = {}): FeatureSetConfig {
  return validateConfig({
    kafka: { brokers: ['k:1'], groupId: 'g' },
    sources: [{ topics: ['t'] }],
    output: { table: 'x', columns: [{ name: 'a', type: 'String' }] },
    features: [
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
    ],
  }).features[0]!;
}

const lane = { topic: 't', partition: 0 };
const read = (fields: Record<string, unknown>) => (p: string) => fields[p];

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
    expect(w.minOpenOffset()).toBe(2n);
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
    const budget = { open: 0, max: fs.maxOpenWindows };
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
