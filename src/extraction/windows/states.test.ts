import { describe, expect, it } from 'vitest';
import type { FeatureSetConfig } from '../../config/index.js';
import { configWithFeatures } from '../../testing/config.js';
import { createWindowStates } from './states.js';

function featureSet(aggregations: Record<string, unknown>[]): FeatureSetConfig {
  return configWithFeatures([
    { name: 'f', entity: 'u', eventTime: 'ts', window: { type: 'tumbling', size: '1m' }, aggregations },
  ]).features[0]!;
}

const all = featureSet([
  { name: 'n', fn: 'count' },
  { name: 'total', fn: 'sum', field: 'x' },
  { name: 'var', fn: 'variance', field: 'x' },
  { name: 'lo', fn: 'min', field: 'x' },
  { name: 'hi', fn: 'max', field: 'x' },
  { name: 'first_k', fn: 'first', field: 'k' },
  { name: 'last_k', fn: 'last', field: 'k' },
  { name: 'kinds', fn: 'count_distinct', field: 'k' },
  { name: 'approx', fn: 'approx_count_distinct', field: 'k' },
]);

describe('window states', () => {
  it('gives a reused slot empty state, whatever the window before it held', () => {
    const s = createWindowStates(all);
    const a = s.alloc();
    for (let i = 0; i < 300; i++) s.add(a, { x: i, k: `k${i}` }, BigInt(i)); // past the exact limits
    s.free(a);
    const b = s.alloc();
    expect(b).toBe(a);
    expect(s.count(b)).toBe(0);
    expect(s.values(b, 60_000)).toMatchObject({
      n: 0,
      total: 0,
      lo: null,
      hi: null,
      first_k: null,
      last_k: null,
      kinds: 0,
      approx: 0,
    });
    s.add(b, { x: 5, k: 'z' }, 7n);
    expect(s.values(b, 60_000)).toMatchObject({ n: 1, total: 5, lo: 5, hi: 5, first_k: 'z', kinds: 1 });
    expect(s.maxOffset(b)).toBe(7n);
  });

  it('merges to what one slot given every value would hold, sketches included', () => {
    const s = createWindowStates(all);
    const one = s.alloc();
    const [left, right] = [s.alloc(), s.alloc()];
    // Offsets interleave, so first/last must come from the offsets, not from the side.
    for (let i = 0; i < 400; i++) {
      const record = { x: (i * 37) % 101, k: `k${i % 150}`, ignored: true };
      s.add(one, record, BigInt(i));
      s.add(i % 3 === 0 ? left : right, record, BigInt(i));
    }
    s.add(left, { x: 'not a number', k: null }, 400n); // neither a number nor a key: counted only
    s.add(one, { x: 'not a number', k: null }, 400n);
    s.merge(right, left);
    expect(s.values(right, 60_000)).toEqual(s.values(one, 60_000));
    expect(s.count(right)).toBe(401);
    expect(s.maxOffset(right)).toBe(400n);
  });
});
