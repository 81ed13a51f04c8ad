import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { createAck, isPacked, type Batch, type OutputRow, type SourceRecord } from '../core/index.js';
import { avroFileDecoder } from '../ingestion/decoders/avro.js';
import { jsonDecoder } from '../ingestion/decoders/json.js';
import { batchEncoder } from '../storage/index.js';
import { packBatch, unpackRecords } from './wire.js';

const lane = { topic: 't', partition: 1 };

/** The records as a worker sees them: packed into one buffer and back. */
function throughWire(values: (Buffer | null)[], keys: (Buffer | null)[] = []): SourceRecord[][] {
  const plain: SourceRecord[] = values.map((value, i) => ({
    ...lane,
    offset: String(100 + i),
    key: keys[i] ?? null,
    value,
    headers: {},
    timestamp: 1_767_225_600_000 + i,
  }));
  const batch: Batch<SourceRecord> = {
    lane,
    ack: createAck().ack,
    firstOffset: '100',
    lastOffset: String(99 + values.length),
    records: plain,
    rejected: [],
    filtered: 0,
  };
  const packed = unpackRecords(structuredClone(packBatch(batch).wire));
  expect(packed.every(isPacked)).toBe(true);
  return [plain, packed];
}

describe('readers of packed records (a worker reads keys and values in its batch buffer)', () => {
  it('decode JSON as from a plain record, valid or not, reasons included', () => {
    const framed = (id: number, text: string) => {
      const b = Buffer.alloc(5 + text.length);
      b.writeUInt32BE(id, 1);
      b.write(text, 5);
      return b;
    };
    const [plain, packed] = throughWire([
      Buffer.from('{"a":1,"s":"é"}'),
      null,
      Buffer.from('{"a":'),
      Buffer.from('[1]'),
      Buffer.from([0, 0, 1]),
      framed(7, '{"b":2}'),
      framed(7, '{oops'),
      Buffer.alloc(0),
      Buffer.from('{"c":3}'),
    ]);
    const fromPlain = plain!.map((r) => jsonDecoder.decode(r));
    expect(packed!.map((r) => jsonDecoder.decode(r))).toEqual(fromPlain);
    expect(fromPlain.filter((d) => 'fields' in d)).toHaveLength(3);
  });

  it('decode Avro as from a plain record; a truncated or overlong value gets fromBuffer’s reason', () => {
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      fields: [
        { name: 'id', type: 'string' },
        { name: 'n', type: 'long' },
      ],
    } as avro.Schema);
    const good = (i: number) => type.toBuffer({ id: `id-${i}`, n: i * 1000 });
    const whole = good(2);
    const [plain, packed] = throughWire([
      good(1),
      whole.subarray(0, whole.length - 1), // truncated: the next value's bytes follow it in the buffer
      good(3),
      Buffer.concat([good(4), Buffer.from([2])]), // trailing data
      null,
      good(5),
    ]);
    // whole, and with only n read (id skipped)
    for (const decoder of [avroFileDecoder(type), avroFileDecoder(type, new Set(['n']))]) {
      const fromPlain = plain!.map((r) => decoder.decode(r));
      expect(packed!.map((r) => decoder.decode(r))).toEqual(fromPlain);
      expect(fromPlain.map((d) => ('fields' in d ? 'ok' : d.reason))).toEqual([
        'ok',
        expect.stringContaining('truncated buffer'),
        'ok',
        expect.stringContaining('trailing data'),
        'empty value (tombstone): nothing to decode',
        'ok',
      ]);
    }
    expect(avroFileDecoder(type, new Set(['n'])).decode(plain![0]!)).toEqual({ fields: { n: 1000 } });
  });

  it('encode the same RowBinary rows, keys null, empty, short or long', () => {
    const keys = [null, Buffer.alloc(0), Buffer.from('user-1'), Buffer.from('k'.repeat(300)), null];
    const [plain, packed] = throughWire(
      keys.map((_, i) => Buffer.from(`v${i}`)),
      keys,
    );
    const tables = { outputs: [{ columns: [{ name: 's', type: 'String' }] }], tableFor: () => 0 };
    const encode = (records: SourceRecord[]) => {
      const batch: Batch<OutputRow> = {
        lane,
        ack: createAck().ack,
        firstOffset: '100',
        lastOffset: '104',
        records: records.map((source, i) => ({ source, values: { s: `row ${i}` } })),
        rejected: [],
        filtered: 0,
      };
      const rows = batchEncoder([], tables)(batch).rows;
      return { bytes: Buffer.from(rows.bytes), ends: [...rows.ends] };
    };
    const fromPlain = encode(plain!);
    expect(encode(packed!)).toEqual(fromPlain);
    expect(fromPlain.bytes.includes(Buffer.from('k'.repeat(300)))).toBe(true);
  });
});
