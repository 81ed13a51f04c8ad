import { describe, expect, it } from 'vitest';
import { createAck, type Batch, type OutputRow } from '../core/index.js';
import { batchEncoder } from './encode.js';
import { ByteWriter } from './byteWriter.js';
import { encodeRowBinary } from './rowBinary.js';

describe('RowBinary writers', () => {
  it('refuse a value that is not their column type, naming it, instead of writing something else', () => {
    const refuse = (type: string, v: unknown) => () => encodeRowBinary([{ name: 'c', type }], [{ c: v }]);
    expect(refuse('UInt16', 'many')).toThrow('the string "many" is not a UInt16 value');
    expect(refuse('UInt16', 1.5)).toThrow('is not a UInt16 value');
    expect(refuse('UInt8', 256)).toThrow('number 256 is not a UInt8 value');
    expect(refuse('Int8', -129)).toThrow('is not a Int8 value');
    expect(refuse('UInt32', Number.NaN)).toThrow('is not a UInt32 value');
    expect(refuse('UInt64', 1.5)).toThrow('is not a UInt64 value');
    expect(refuse('UInt64', '-1')).toThrow(/out of range/);
    expect(refuse('Int64', '1e3')).toThrow('the string "1e3" is not a Int64 value');
    expect(refuse('Int64', '')).toThrow('is not a Int64 value');
    expect(refuse('Int64', '9223372036854775808')).toThrow(/out of range/);
    expect(refuse('Float64', '1')).toThrow('is not a Float64 value');
    expect(refuse('String', 5)).toThrow('is not a String value');
    expect(refuse('Date', '1969-12-31')).toThrow('is not a Date value');
    expect(refuse('DateTime', null)).toThrow('is not a DateTime value');
    expect(refuse('DateTime64(3)', 5)).toThrow('is not a DateTime64(3) value');
    expect(refuse('UUID', 'not-a-uuid')).toThrow('is not a UUID value');
    expect(refuse('Array(String)', 'a')).toThrow('is not a Array(String) value');
    expect(refuse('Array(String)', [1])).toThrow('number 1 is not a String value');
    expect(refuse('Map(String, String)', ['a'])).toThrow('is not a Map(String, String) value');
    expect(refuse('Map(UInt8, String)', { '300': 'a' })).toThrow('is not a UInt8 value');
    expect(refuse('Map(UInt8, String)', { '': 'a' })).toThrow('the string "" is not a UInt8 value');
    expect(refuse('Decimal(9, 2)', 1.5)).toThrow('is not a Decimal(9, 2) value');
    // More places than the scale, or more than the integer holds, would be written wrong (wrapped).
    // Digits past the precision are conversion's to refuse (it does); the writer stops wrapping.
    expect(refuse('Decimal(9, 2)', '1.555')).toThrow('the string "1.555" is not a Decimal(9, 2) value');
    expect(refuse('Decimal(9, 2)', '21474836.48')).toThrow('is not a Decimal(9, 2) value');
    expect(refuse('Decimal(9, 2)', '-21474836.49')).toThrow('is not a Decimal(9, 2) value');
    expect(refuse('Decimal(9, 2)', '1e3')).toThrow('is not a Decimal(9, 2) value');
    const decimal = (c: string) => [...encodeRowBinary([{ name: 'c', type: 'Decimal(9, 2)' }], [{ c }])];
    expect(decimal('21474836.47')).toEqual([0xff, 0xff, 0xff, 0x7f]);
    expect(decimal('-21474836.48')).toEqual([0, 0, 0, 0x80]);
    expect(decimal('-0.01')).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(() => encodeRowBinary([{ name: 'c', type: 'Enum8(1)' }], [])).toThrow(/no RowBinary writer/);
  });

  it('write varint lengths, strings past one length byte, and 64-bit values past 2^53', () => {
    const w = new ByteWriter();
    w.string('a'.repeat(200));
    w.string('é'.repeat(42)); // 84 bytes, from the short path's multi-byte fallback
    w.i64Text('18446744073709551615', false);
    w.i64Text('9007199254740993', false);
    const b = Buffer.from(w.take());
    expect([...b.subarray(0, 2)]).toEqual([(200 & 0x7f) | 0x80, 1]);
    expect(b.subarray(2, 202).toString()).toBe('a'.repeat(200));
    expect(b[202]).toBe(84);
    expect(b.subarray(203, 287).toString()).toBe('é'.repeat(42));
    expect(b.readBigUInt64LE(287)).toBe(18446744073709551615n);
    expect(b.readBigUInt64LE(295)).toBe(9007199254740993n);
    expect(b.length).toBe(303);
    // Taking starts over, into a buffer of its own.
    w.u8(7);
    expect([...w.take()]).toEqual([7]);
  });

  it('grow past their first buffer', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => ({ s: `row ${i} ${'x'.repeat(30)}` }));
    const bytes = encodeRowBinary([{ name: 's', type: 'String' }], rows);
    expect(bytes.length).toBe(rows.reduce((n, r) => n + 1 + r.s.length, 0));
    expect(bytes.length).toBeGreaterThan(64 * 1024);
  });

  it("refuse a row whose Kafka timestamp is -1 (ClickHouse refuses it in a JSON line), keeping the batch's other rows", () => {
    const source = (offset: number, timestamp: number) => ({
      topic: 't',
      partition: 0,
      offset: String(offset),
      key: null,
      value: null,
      headers: {},
      timestamp,
    });
    const batch: Batch<OutputRow> = {
      lane: { topic: 't', partition: 0 },
      ack: createAck().ack,
      firstOffset: '0',
      lastOffset: '2',
      records: [0, -1, 5].map((ts, i) => ({ source: source(i, ts), values: { s: `r${i}` } })),
      rejected: [],
      filtered: 0,
    };
    const tables = { outputs: [{ columns: [{ name: 's', type: 'String' }] }], tableFor: () => 0 };
    const e = batchEncoder([], tables)(batch);
    expect(e.sources.map((s) => s.offset)).toEqual(['0', '2']);
    expect(e.rejected).toEqual([
      {
        source: batch.records[1]!.source,
        stage: 'storage',
        reason: 'column _timestamp_ms: number -1 is not a UInt64 value',
      },
    ]);
    if (typeof e.rows === 'string') throw new Error('not RowBinary');
    // Per row: topic (2 bytes), partition 4, offset 8, timestamp 8, null key 1, then 'rN' (3).
    expect([...e.rows.ends]).toEqual([26, 52]);
  });
});
