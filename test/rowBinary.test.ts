import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { query } from 'chdb';
import { afterAll, describe, expect, it } from 'vitest';
import { createAck, type Batch, type FeatureRow, type OutputRow } from '../src/core/index.js';
import { planColumns, projectRecord } from '../src/extraction/index.js';
import { batchEncoder, encodeRowBinary, featureTableSpec } from '../src/storage/index.js';
import { configWithFeatures } from '../src/testing/config.js';

const dir = mkdtempSync(join(tmpdir(), 'rowbinary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Every column type the output may declare, as ClickHouse stores it (Bool is UInt8): projection
 * converts the record, and the rows go to a current engine (chDB) once as RowBinary and once as the
 * JSON lines the text formats send. ClickHouse must read the same values from both.
 */
const COLUMNS = [
  { name: 's', type: 'String' },
  { name: 'u8', type: 'UInt8' },
  { name: 'u16', type: 'UInt16' },
  { name: 'u32', type: 'UInt32' },
  { name: 'u64', type: 'UInt64' },
  { name: 'i8', type: 'Int8' },
  { name: 'i16', type: 'Int16' },
  { name: 'i32', type: 'Int32' },
  { name: 'i64', type: 'Int64' },
  { name: 'f32', type: 'Float32' },
  { name: 'f64', type: 'Float64' },
  { name: 'b', type: 'UInt8' },
  { name: 'd', type: 'Date' },
  { name: 'dt', type: 'DateTime' },
  { name: 'dtz', type: "DateTime('Asia/Tokyo')" },
  { name: 'u', type: 'UUID' },
  { name: 'ms', type: 'DateTime64(3)' },
  { name: 'us', type: "DateTime64(6, 'Europe/Oslo')" },
  { name: 'dec', type: 'Decimal(38, 10)' },
  { name: 'dec4', type: 'Decimal(9, 4)' },
  { name: 'dec18', type: 'Decimal(18, 0)' },
  { name: 'ns', type: 'Nullable(String)' },
  { name: 'ni', type: 'Nullable(Int64)' },
  { name: 'lc', type: 'LowCardinality(String)' },
  { name: 'lcn', type: 'LowCardinality(Nullable(String))' },
  { name: 'tags', type: 'Array(String)' },
  { name: 'scores', type: 'Array(Nullable(Float64))' },
  { name: 'lcs', type: 'Array(LowCardinality(String))' },
  { name: 'attrs', type: 'Map(String, UInt64)' },
  { name: 'byId', type: 'Map(UInt16, Nullable(String))' },
  { name: 'byU', type: 'Map(UUID, LowCardinality(String))' },
  { name: 'byDay', type: 'Map(Date, Int32)' },
  { name: 'big', type: 'Map(Int64, Float32)' },
];

// Declared as the config would (Bool, not its stored UInt8).
const declared = COLUMNS.map((c) => (c.name === 'b' ? { ...c, type: 'Bool' } : c));

const RECORDS: Record<string, unknown>[] = [
  {
    s: 'plain',
    u8: 255,
    u16: 65535,
    u32: 4294967295,
    u64: '18446744073709551615',
    i8: -128,
    i16: -32768,
    i32: -2147483648,
    i64: '-9223372036854775808',
    f32: 1.5,
    f64: -0.1,
    b: true,
    d: '2149-06-06',
    dt: 4294967295,
    dtz: '2026-01-01T00:00:05Z',
    u: '61F0C404-5cb3-11e7-907b-a6006ad3dba0',
    ms: '2026-01-01T00:00:05.123Z',
    us: -0.25,
    dec: '-12345678901234567890.0123456789',
    dec4: 12345.6789,
    dec18: '999999999999999999',
    ns: null,
    ni: 9007199254740993n.toString(),
    lc: 'a',
    lcn: null,
    tags: [],
    scores: [1.25, null, -3],
    lcs: ['x', 'y'],
    attrs: { a: 1, 'b c': '18446744073709551615' },
    byId: { '7': 'seven', '65535': null },
    byU: { 'AAAAAAAA-5cb3-11e7-907b-a6006ad3dba0': 'upper' },
    byDay: { '1970-01-01': -1 },
    big: { '-9223372036854775808': 0.5, '9007199254740993': 2 },
  },
  {
    // Strings of every length class: past 127 bytes the length takes two bytes; multi-byte UTF-8,
    // quotes, tabs and newlines are bytes in RowBinary and escapes in JSON.
    s: `é"\t\n\\ ${'ü'.repeat(100)}`,
    u8: 0,
    u16: 0,
    u32: 0,
    u64: 0,
    i8: 127,
    i16: 32767,
    i32: 2147483647,
    i64: 9007199254740991,
    f32: -1e30,
    f64: 1.7976931348623157e308,
    b: false,
    d: '1970-01-01',
    dt: 0,
    dtz: 0,
    u: '00000000-0000-0000-0000-000000000000',
    ms: 1767225605.999,
    us: '2026-01-01T02:00:05.123456+02:00',
    dec: 0,
    dec4: '-0.0001',
    dec18: -5,
    ns: 'x'.repeat(300),
    ni: -1,
    lc: '',
    lcn: '日本',
    tags: ['a', 'b'.repeat(200), ''],
    scores: [],
    lcs: [],
    attrs: {},
    byId: {},
    byU: {},
    byDay: {},
    big: {},
  },
];

const structure = COLUMNS.map((c) => `${c.name} ${c.type}`)
  .join(', ')
  .replace(/'/g, "\\'");

function select(from: string): unknown[] {
  const text = query(
    `SELECT * FROM ${from} SETTINGS date_time_input_format = 'best_effort', output_format_json_quote_64bit_integers = 1, output_format_json_quote_decimals = 1`,
    'JSONEachRow',
  );
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);
}

describe('RowBinary rows', () => {
  it('are read by a current engine as the same values as JSON lines of the rows, for every column type', () => {
    const plan = planColumns(declared);
    const values = RECORDS.map((r) => {
      const p = projectRecord(plan, r);
      if (!('values' in p)) throw new Error(p.reason);
      return p.values;
    });
    const file = join(dir, 'rows.bin');
    writeFileSync(file, encodeRowBinary(COLUMNS, values));
    const fromBinary = select(`file('${file}', 'RowBinary', '${structure}')`);
    const lines = values.map((v) => JSON.stringify(v)).join('\n');
    const fromJson = select(`format(JSONEachRow, '${structure}', $$${lines}$$)`);
    expect(fromBinary).toHaveLength(2);
    expect(fromBinary).toEqual(fromJson);
    // Spot checks against ClickHouse's own reading, beyond agreeing with JSON.
    expect(fromBinary[0]).toMatchObject({
      u64: '18446744073709551615',
      i64: '-9223372036854775808',
      u: '61f0c404-5cb3-11e7-907b-a6006ad3dba0',
      d: '2149-06-06',
      dt: '2106-02-07 06:28:15',
      dtz: '2026-01-01 09:00:05',
      us: '1970-01-01 00:59:59.750000',
      dec: '-12345678901234567890.0123456789',
      byU: { 'aaaaaaaa-5cb3-11e7-907b-a6006ad3dba0': 'upper' },
      big: { '-9223372036854775808': 0.5, '9007199254740993': 2 },
    });
    expect((fromBinary[1] as { s: string }).s).toBe(RECORDS[1]!.s);
  });

  it('of feature rows are read as the same values as their JSON lines, for every aggregation and session bounds', () => {
    const aggregations = [
      { name: 'n', fn: 'count' },
      { name: 'total', fn: 'sum', field: 'amount' },
      { name: 'mean', fn: 'avg', field: 'amount' },
      { name: 'low', fn: 'min', field: 'amount' },
      { name: 'high', fn: 'max', field: 'amount' },
      { name: 'opened', fn: 'first', field: 'page' },
      { name: 'closed', fn: 'last', field: 'page' },
      { name: 'pages', fn: 'count_distinct', field: 'page' },
    ];
    const { features } = configWithFeatures([
      {
        name: 'per_min',
        entity: 'user',
        eventTime: 'ts',
        window: { type: 'tumbling', size: '1m' },
        aggregations,
      },
      {
        name: 'visits',
        entity: 'user',
        eventTime: 'ts',
        window: { type: 'session', gap: '30m' },
        aggregations,
      },
    ]);
    const row = (featureSet: string, i: number): FeatureRow => ({
      featureSet,
      entity: `user "${i}" é`,
      windowStart: 1_767_225_600_000 + i * 60_000 + (featureSet === 'visits' ? 123 : 0),
      windowEnd: 1_767_225_660_000 + i * 60_000 + (featureSet === 'visits' ? 456 : 0),
      values: {
        n: 3,
        total: 10.5,
        mean: 3.5,
        _n_mean: 3,
        _sum_mean: 10.5,
        _sumsq_mean: 40.25,
        low: i === 0 ? null : -1.25,
        high: i === 0 ? null : 7,
        opened: i === 0 ? null : '/a',
        closed: '/b\t"c"',
        pages: 2,
      },
      recordCount: 3,
      topic: 'clicks',
      partition: 4,
      version: 9_007_199_254_740_993n,
    });
    const batch = (): Batch<OutputRow> => ({
      lane: { topic: 'clicks', partition: 4 },
      ack: createAck().ack,
      firstOffset: '0',
      lastOffset: '0',
      records: [],
      rejected: [],
      filtered: 0,
      features: ['per_min', 'visits'].flatMap((fs) => [row(fs, 0), row(fs, 1)]),
    });
    const tables = { outputs: [{ columns: [{ name: 'user', type: 'String' }] }], tableFor: () => 0 };
    const binary = batchEncoder(features, tables)(batch()).features;
    // What the feature table should hold for a row, as a JSON line: bounds in epoch seconds (and
    // milliseconds for sessions), the aggregates by name, the version as text.
    const line = (f: FeatureRow) =>
      JSON.stringify({
        entity: f.entity,
        window_start: Math.floor(f.windowStart / 1000),
        window_end: Math.floor(f.windowEnd / 1000),
        ...(f.featureSet === 'visits' ? { window_start_ms: f.windowStart, window_end_ms: f.windowEnd } : {}),
        ...f.values,
        record_count: f.recordCount,
        source_topic: f.topic,
        source_partition: f.partition,
        version: f.version.toString(),
      });
    for (const fs of features) {
      const structure = featureTableSpec('d', fs)
        .columns.map((c) => `${c.name} ${c.type}`)
        .join(', ');
      const rows = binary.find(([name]) => name === fs.name)![1];
      const text = [0, 1].map((i) => line(row(fs.name, i))).join('\n');
      expect(rows.ends).toHaveLength(2);
      const file = join(dir, `${fs.name}.bin`);
      writeFileSync(file, rows.bytes);
      const fromBinary = select(`file('${file}', 'RowBinary', '${structure}')`);
      expect(fromBinary).toEqual(select(`format(JSONEachRow, '${structure}', $$${text}$$)`));
      expect(fromBinary[1]).toMatchObject({
        entity: 'user "1" é',
        closed: '/b\t"c"',
        version: '9007199254740993',
      });
    }
  });
});
