import { describe, expect, it } from 'vitest';
import { convertValue, planColumns, projectRecord } from './index.js';

describe('convertValue', () => {
  it.each([
    ['String', 'x', 'x'],
    ['UInt8', 255, 255],
    ['Int64', '-9223372036854775808', '-9223372036854775808'],
    ['UInt64', 42, '42'],
    ['Float64', 1.5, 1.5],
    ['Bool', true, 1],
    ['Date', '2026-01-31', '2026-01-31'],
    ['DateTime', '2026-01-01T00:00:05Z', '2026-01-01 00:00:05'],
    ['DateTime', 1767225605, '2026-01-01 00:00:05'],
  ] as const)('%s accepts %j', (type, input, output) => {
    expect(convertValue(type, input)).toEqual({ ok: true, value: output });
  });

  it.each([
    ['String', 5, 'expected a string, got number 5'],
    ['UInt8', 256, '256 is out of range for UInt8 [0, 255]'],
    ['UInt32', -1, '-1 is out of range for UInt32 [0, 4294967295]'],
    ['Int32', 1.5, 'expected an integer (Int32), got number 1.5'],
    ['Float64', 'NaN', 'expected a finite number (Float64), got the string "NaN"'],
    ['Bool', 'yes', 'expected true or false, got the string "yes"'],
    ['DateTime', 'tomorrow', 'expected epoch seconds or an ISO-8601 date-time, got the string "tomorrow"'],
  ] as const)('%s rejects %j', (type, input, reason) => {
    expect(convertValue(type, input)).toEqual({ ok: false, reason });
  });
});

describe('projectRecord', () => {
  const plan = planColumns([
    { name: 'id', type: 'String' },
    { name: 'city', type: 'Nullable(String)', field: 'address.city' },
    { name: 'n', type: 'UInt16' },
  ]);

  it('reads nested fields and fills nullable ones with null', () => {
    expect(projectRecord(plan, { id: 'a', n: 3, address: { city: 'Oslo' } })).toEqual({
      values: { id: 'a', city: 'Oslo', n: 3 },
    });
    expect(projectRecord(plan, { id: 'a', n: 3 })).toEqual({ values: { id: 'a', city: null, n: 3 } });
  });

  it('gives the values in column order, whatever the order of the fields (compact inserts rely on it)', () => {
    const r = projectRecord(plan, { n: 3, address: { city: 'Oslo' }, id: 'a' });
    expect('values' in r && Object.keys(r.values)).toEqual(['id', 'city', 'n']);
  });

  it('reads Kafka headers for $header.<name> fields, and names a missing one', () => {
    const withHeaders = planColumns([
      { name: 'id', type: 'String' },
      { name: 'trace_id', type: 'String', field: '$header.trace-id' },
      { name: 'tenant', type: 'Nullable(String)', field: '$header.tenant' },
    ]);
    expect(projectRecord(withHeaders, { id: 'a' }, { 'trace-id': 't1' })).toEqual({
      values: { id: 'a', trace_id: 't1', tenant: null },
    });
    // A record field of the same name is not a header.
    expect(projectRecord(withHeaders, { id: 'a', 'trace-id': 'x' })).toEqual({
      reason: "field '$header.trace-id': is missing (column trace_id String is not Nullable)",
    });
  });

  it('names the field that does not fit', () => {
    expect(projectRecord(plan, { n: 3 })).toEqual({
      reason: "field 'id': is missing (column id String is not Nullable)",
    });
    expect(projectRecord(plan, { id: 'a', n: -3 })).toEqual({
      reason: "field 'n': -3 is out of range for UInt16 [0, 65535]",
    });
  });
});
