import { describe, expect, it } from 'vitest';
import { toFeatureInsertLine } from './featureTables.js';
import { toInsertLine } from './rows.js';

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
      window_start: '2026-01-01 00:00:00',
      window_end: '2026-01-01 00:01:00',
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
