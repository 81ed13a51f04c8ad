import { describe, expect, it } from 'vitest';
import { configWithFeatures } from '../testing/config.js';
import {
  featureAggregateNames,
  featureTableSpec,
  toFeatureCompactLine,
  toFeatureInsertLine,
} from './featureTables.js';
import { toCompactInsertLine, toInsertLine } from './rows.js';
import { outputTableSpec } from './schema.js';

const source = {
  topic: 'orders',
  partition: 3,
  offset: '42',
  key: Buffer.from('k"1'),
  value: null,
  headers: {},
  timestamp: 1767225600123,
};

describe('JSON lines for inserts', () => {
  it('puts the source columns before the declared ones, escaping strings', () => {
    const line = toInsertLine({ source, values: { id: 'a\tb"\n', amount: 1.5, n: null } });
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      _topic: 'orders',
      _partition: 3,
      _offset: '42',
      _timestamp_ms: 1767225600123,
      _key: 'k"1',
      id: 'a\tb"\n',
      amount: 1.5,
      n: null,
    });
    expect(Object.keys(JSON.parse(toInsertLine({ source: { ...source, key: null }, values: {} })))).toEqual([
      '_topic',
      '_partition',
      '_offset',
      '_timestamp_ms',
      '_key',
    ]);
  });

  it('writes a feature row with its bounds, aggregates and version', () => {
    const row = {
      featureSet: 'f',
      entity: 'user "7"',
      windowStart: 1767225600000,
      windowEnd: 1767225660500,
      values: { events: 3, revenue: 12.5 },
      recordCount: 3,
      topic: 'orders',
      partition: 1,
      version: 99n,
    };
    expect(JSON.parse(toFeatureInsertLine(row, false))).toEqual({
      entity: 'user "7"',
      // epoch seconds (the end's half second is cut, as DateTime keeps seconds)
      window_start: 1767225600,
      window_end: 1767225660,
      events: 3,
      revenue: 12.5,
      record_count: 3,
      source_topic: 'orders',
      source_partition: 1,
      version: '99',
    });
    expect(JSON.parse(toFeatureInsertLine(row, true))).toMatchObject({
      window_start_ms: 1767225600000,
      window_end_ms: 1767225660500,
    });
  });
});

describe('JSONCompactEachRow lines (the embedded store)', () => {
  const inOrder = (object: Record<string, unknown>, columns: readonly { name: string }[]) =>
    columns.map((c) => object[c.name]);

  it('give an output row the same values as its JSONEachRow line, in the table columns order', () => {
    const columns = [
      { name: 'id', type: 'String' },
      { name: 'amount', type: 'Float64' },
      { name: 'n', type: 'Nullable(Int32)' },
    ];
    const spec = outputTableSpec('d', 't', columns);
    for (const row of [
      { source, values: { id: 'a\tb"\n', amount: 1.5, n: null } },
      { source: { ...source, key: null }, values: { id: '', amount: -0.25, n: 7 } },
    ]) {
      const line = toCompactInsertLine(row);
      expect(line).not.toContain('\n');
      expect(JSON.parse(line)).toEqual(inOrder(JSON.parse(toInsertLine(row)), spec.columns));
    }
    expect(JSON.parse(toCompactInsertLine({ source, values: {} }))).toEqual([
      'orders',
      3,
      '42',
      1767225600123,
      'k"1',
    ]);
  });

  it('give a feature row its aggregates by name, partials included, in the table columns order', () => {
    const fs = configWithFeatures([
      {
        name: 'f',
        entity: 'user',
        eventTime: '$timestamp',
        window: { type: 'session', gap: '1m' },
        aggregations: [
          { name: 'events', fn: 'count' },
          { name: 'mean', fn: 'avg', field: 'amount' },
          { name: 'top', fn: 'max', field: 'amount' },
        ],
      },
    ]).features[0]!;
    const row = {
      featureSet: 'f',
      entity: 'user "7"',
      windowStart: 1767225600000,
      windowEnd: 1767225660500,
      // not in column order, and one aggregate without a value
      values: { _sumsq_mean: 9, mean: 1.5, _sum_mean: 3, _n_mean: 2, events: 2 },
      recordCount: 2,
      topic: 'orders',
      partition: 1,
      version: 99n,
    };
    const spec = featureTableSpec('d', fs);
    const compact = JSON.parse(toFeatureCompactLine(row, true, featureAggregateNames(fs)));
    expect(compact).toEqual(
      inOrder({ ...JSON.parse(toFeatureInsertLine(row, true)), top: null }, spec.columns),
    );
    expect(compact).toHaveLength(spec.columns.length);
  });
});
