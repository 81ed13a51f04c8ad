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
    ['Date', '1970-01-01', '1970-01-01'],
    ['Date', '2149-06-06', '2149-06-06'],
    ['DateTime', '2026-01-01T00:00:05Z', 1767225605],
    ['DateTime', 1767225605, 1767225605],
    ['UUID', '61F0C404-5cb3-11e7-907b-a6006ad3dba0', '61F0C404-5cb3-11e7-907b-a6006ad3dba0'],
    ['DateTime64(3)', '2026-01-01T00:00:05.123Z', '2026-01-01T00:00:05.123Z'],
    ['DateTime64(6)', '2026-01-01T02:00:05.123456+02:00', '2026-01-01T00:00:05.123456Z'],
    ['DateTime64(3)', '2026-01-01', '2026-01-01T00:00:00.000Z'],
    ['DateTime64(3)', 1767225605.5, '2026-01-01T00:00:05.500Z'],
    ['DateTime64(3)', 1.9999999, '1970-01-01T00:00:02.000Z'],
    ['DateTime64(6)', -0.25, '1969-12-31T23:59:59.750000Z'],
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
    ['Date', '1969-12-31', `the string "1969-12-31" is outside Date's range (1970-01-01 to 2149-06-06)`],
    ['Date', '2149-06-07', `the string "2149-06-07" is outside Date's range (1970-01-01 to 2149-06-06)`],
    ['DateTime', 'tomorrow', 'expected epoch seconds or an ISO-8601 date-time, got the string "tomorrow"'],
    [
      'UUID',
      '61f0c404-5cb3-11e7-907b',
      'expected a UUID (8-4-4-4-12 hex digits), got the string "61f0c404-5cb3-11e7-907b"',
    ],
    [
      'DateTime64(3)',
      1767225605123,
      "number 1767225605123 is outside DateTime64's range (epoch milliseconds? divide by 1000)",
    ],
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

describe('projectRecord with Decimal columns', () => {
  const plan = planColumns([
    { name: 'price', type: 'Decimal(10,2)' },
    { name: 'exact', type: 'Nullable(Decimal(38, 10))' },
  ]);
  const price = (v: unknown) => projectRecord(plan, { price: v });

  it('keeps every digit as decimal text', () => {
    expect(price(19.99)).toEqual({ values: { price: '19.99', exact: null } });
    expect(price('0012.30')).toEqual({ values: { price: '12.3', exact: null } });
    expect(price('-0.00')).toEqual({ values: { price: '0', exact: null } });
    expect(projectRecord(plan, { price: 1, exact: 1e-7 })).toEqual({
      values: { price: '1', exact: '0.0000001' },
    });
    expect(projectRecord(plan, { price: 1, exact: '1234567890123456789012345678.0123456789' })).toEqual({
      values: { price: '1', exact: '1234567890123456789012345678.0123456789' },
    });
  });

  it('refuses what would lose digits or not fit, and says why', () => {
    expect(price('12.345')).toEqual({
      reason: `field 'price': the string "12.345" has more than 2 decimal places (Decimal(10, 2))`,
    });
    expect(price(123456789.5)).toEqual({
      reason: "field 'price': number 123456789.5 has more than 8 digits before the point (Decimal(10, 2))",
    });
    expect(price(2 ** 60)).toEqual({
      reason: `field 'price': number ${2 ** 60} is past 2^53, where JSON numbers lose digits; send it as a string (Decimal(10, 2))`,
    });
    expect(price('1e5')).toEqual({
      reason: `field 'price': expected a decimal number (Decimal(10, 2)), got the string "1e5"`,
    });
  });
});

describe('projectRecord with Map columns', () => {
  const plan = planColumns([{ name: 'props', type: 'Map(String, Nullable(Int64))' }]);

  it('converts every value of an object, and names the key that does not fit', () => {
    expect(projectRecord(plan, { props: { a: 1, b: null, c: '9007199254740993' } })).toEqual({
      values: { props: { a: '1', b: null, c: '9007199254740993' } },
    });
    expect(projectRecord(plan, { props: {} })).toEqual({ values: { props: {} } });
    expect(projectRecord(plan, { props: { a: 1.5 } })).toEqual({
      reason: "field 'props': key 'a': expected an integer (Int64), got number 1.5",
    });
    expect(projectRecord(plan, { props: [1] })).toEqual({
      reason: "field 'props': expected an object (Map(String, Nullable(Int64))), got an array",
    });
    expect(
      projectRecord(planColumns([{ name: 'm', type: 'Map(String, String)' }]), { m: { k: null } }),
    ).toEqual({
      reason: "field 'm': key 'k' is null (Map(String, String) has no Nullable values)",
    });
  });
});

describe('projectRecord with Map keys other than String', () => {
  const plan = planColumns([
    { name: 'by_id', type: 'Map(UInt64, String)' },
    { name: 'per_day', type: 'Map(Date, UInt8)' },
  ]);

  it('reads each key as its type, and names a key that does not fit', () => {
    expect(
      projectRecord(plan, {
        by_id: { '18446744073709551615': 'max', '1': 'one' },
        per_day: { '2026-01-31': 3 },
      }),
    ).toEqual({
      values: { by_id: { '18446744073709551615': 'max', '1': 'one' }, per_day: { '2026-01-31': 3 } },
    });
    expect(projectRecord(plan, { by_id: { x: 'a' }, per_day: {} })).toEqual({
      reason: "field 'by_id': key 'x': expected an integer (UInt64), got the string \"x\"",
    });
    expect(projectRecord(plan, { by_id: {}, per_day: { '2026-1-1': 1 } })).toEqual({
      reason:
        'field \'per_day\': key \'2026-1-1\': expected a date as "YYYY-MM-DD", got the string "2026-1-1"',
    });
  });

  it('refuses two keys that are one key of the type, rather than drop a value', () => {
    expect(projectRecord(plan, { by_id: { '7': 'a', '07': 'b' }, per_day: {} })).toEqual({
      reason: "field 'by_id': keys '7' and '07' are the same key 7 (Map(UInt64, String))",
    });
    const uuids = planColumns([{ name: 'u', type: 'Map(UUID, UInt8)' }]);
    expect(
      projectRecord(uuids, {
        u: { '61f0c404-5cb3-11e7-907b-a6006ad3dba0': 1, '61F0C404-5CB3-11E7-907B-A6006AD3DBA0': 2 },
      }),
    ).toEqual({
      reason:
        "field 'u': keys '61f0c404-5cb3-11e7-907b-a6006ad3dba0' and '61F0C404-5CB3-11E7-907B-A6006AD3DBA0' are the same key 61f0c404-5cb3-11e7-907b-a6006ad3dba0 (Map(UUID, UInt8))",
    });
  });
});

describe('projectRecord with timezone columns', () => {
  it('sends the instant, whatever the column shows it in: epoch seconds, or UTC text', () => {
    const plan = planColumns([
      { name: 't', type: "DateTime('Asia/Tokyo')" },
      { name: 'u', type: "Nullable(DateTime64(3, 'Asia/Tokyo'))" },
      { name: 'v', type: "Array(DateTime('UTC'))" },
    ]);
    expect(projectRecord(plan, { t: '2026-01-01T09:00:05+09:00', u: 1767225605.123, v: [0] })).toEqual({
      values: { t: 1767225605, u: '2026-01-01T00:00:05.123Z', v: [0] },
    });
    expect(projectRecord(plan, { t: 'soon' })).toEqual({
      reason: 'field \'t\': expected epoch seconds or an ISO-8601 date-time, got the string "soon"',
    });
  });
});

describe('projectRecord with LowCardinality columns', () => {
  it('takes them as the String they hold', () => {
    const plan = planColumns([
      { name: 'country', type: 'LowCardinality(String)' },
      { name: 'region', type: 'LowCardinality(Nullable(String))' },
    ]);
    expect(projectRecord(plan, { country: 'NO' })).toEqual({ values: { country: 'NO', region: null } });
    expect(projectRecord(plan, { country: 7 })).toEqual({
      reason: "field 'country': expected a string, got number 7",
    });
    expect(projectRecord(plan, {})).toEqual({
      reason: "field 'country': is missing (column country LowCardinality(String) is not Nullable)",
    });
  });

  it('takes them as Array elements, Map keys and Map values', () => {
    const nested = planColumns([
      { name: 'tags', type: 'Array(LowCardinality(String))' },
      { name: 'notes', type: 'Array(LowCardinality(Nullable(String)))' },
      { name: 'counts', type: 'Map(LowCardinality(String), UInt32)' },
      { name: 'labels', type: 'Map(String, LowCardinality(String))' },
    ]);
    const ok = { tags: ['a', 'b'], notes: [null, 'x'], counts: { a: 1 }, labels: { env: 'prod' } };
    expect(projectRecord(nested, ok)).toEqual({ values: ok });
    expect(projectRecord(nested, { ...ok, tags: ['a', 3] })).toEqual({
      reason: "field 'tags': element 1: expected a string, got number 3",
    });
    expect(projectRecord(nested, { ...ok, counts: { a: -1 } })).toEqual({
      reason: "field 'counts': key 'a': -1 is out of range for UInt32 [0, 4294967295]",
    });
    expect(projectRecord(nested, { ...ok, labels: { env: null } })).toEqual({
      reason:
        "field 'labels': key 'env' is null (Map(String, LowCardinality(String)) has no Nullable values)",
    });
  });
});

describe('projectRecord with Array columns', () => {
  const plan = planColumns([
    { name: 'tags', type: 'Array(String)' },
    { name: 'scores', type: 'Array(Nullable(Int64))' },
    { name: 'seen', type: 'Array(DateTime)' },
  ]);

  it('converts every element as its scalar type', () => {
    expect(
      projectRecord(plan, {
        tags: ['a', 'b'],
        scores: [1, null, '9007199254740993'],
        seen: ['2026-01-01T00:00:05Z'],
      }),
    ).toEqual({
      values: { tags: ['a', 'b'], scores: ['1', null, '9007199254740993'], seen: [1767225605] },
    });
    expect(projectRecord(plan, { tags: [], scores: [], seen: [] })).toEqual({
      values: { tags: [], scores: [], seen: [] },
    });
  });

  it('names the field and the element that does not fit', () => {
    const ok = { tags: ['a'], scores: [], seen: [] };
    expect(projectRecord(plan, { ...ok, tags: 'a' })).toEqual({
      reason: `field 'tags': expected an array (Array(String)), got the string "a"`,
    });
    expect(projectRecord(plan, { ...ok, tags: ['a', 5] })).toEqual({
      reason: "field 'tags': element 1: expected a string, got number 5",
    });
    expect(projectRecord(plan, { ...ok, tags: ['a', null] })).toEqual({
      reason: "field 'tags': element 1 is null (Array(String) has no Nullable elements)",
    });
    // An Array column is never Nullable in ClickHouse: a missing array is refused (a transform's
    // default can supply []).
    expect(projectRecord(plan, { scores: [], seen: [] })).toEqual({
      reason: "field 'tags': is missing (column tags Array(String) is not Nullable)",
    });
  });
});
