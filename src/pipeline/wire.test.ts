import { describe, expect, it } from 'vitest';
import { isPacked, KEY, VALUE, type Batch, type PackedRecord, type SourceRecord } from '../core/index.js';
import { packBatch, unpackRecords } from './wire.js';

const lane = { topic: 't', partition: 3 };
const record = (offset: string, key: Buffer | null, value: Buffer | null, headers = {}): SourceRecord => ({
  ...lane,
  offset,
  key,
  value,
  headers,
  timestamp: 1_767_225_600_123,
});

function batch(records: SourceRecord[]): Batch<SourceRecord> {
  return {
    lane,
    ack: { commitAt() {}, accept() {}, resolve() {}, reject() {} },
    firstOffset: records[0]?.offset ?? '0',
    lastOffset: records.at(-1)?.offset ?? '0',
    records,
    rejected: [],
    filtered: 0,
    resume: { metadata: '{"v":1}', generation: 4 },
  };
}

describe('wire batches', () => {
  it('carry every key, value, offset, timestamp and header across, nulls and empties included', () => {
    // Views into one larger buffer, as kafkajs gives them: only the views' bytes may cross.
    const fetch = Buffer.from('xxKEYvalue-1yyk2{"a":1}zz');
    const records = [
      record('9007199254740993', fetch.subarray(2, 5), fetch.subarray(5, 12)),
      record('9007199254740994', null, fetch.subarray(14, 21), { trace: 'abc' }),
      record('9007199254740995', fetch.subarray(12, 14), null),
      record('9007199254740996', Buffer.alloc(0), Buffer.alloc(0)),
      record('9007199254740997', null, null),
    ];
    const { wire, transfer } = packBatch(batch(records));
    expect(wire.bytes.byteLength).toBe(3 + 7 + 7 + 2);
    expect(transfer).toContain(wire.bytes.buffer);
    const back = structuredClone(wire, { transfer });
    expect(wire.bytes.byteLength).toBe(0); // moved, not copied
    const out = unpackRecords(back);
    const plain = ({ topic, partition, offset, key, value, headers, timestamp }: SourceRecord) => ({
      topic,
      partition,
      offset,
      key,
      value,
      headers,
      timestamp,
    });
    expect(out.map(plain)).toEqual(records);
    expect(out.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    // By position in the one buffer, as the decoders and the row encoder read them.
    const parts = out.map((r) => {
      expect(isPacked(r)).toBe(true);
      const p = r as unknown as PackedRecord;
      const at = (part: typeof KEY | typeof VALUE) =>
        p.end(part) < 0 ? null : p.packed.subarray(p.start(part), p.end(part));
      return [at(KEY), at(VALUE)];
    });
    expect(parts).toEqual(records.map((r) => [r.key, r.value]));
    // Logged, a record shows its fields as a plain one does.
    expect(JSON.parse(JSON.stringify(out[1]))).toEqual(JSON.parse(JSON.stringify(records[1])));
    expect(records.some(isPacked)).toBe(false);
    expect(back.resume).toEqual({ metadata: '{"v":1}', generation: 4 });
  });

  it('carry an idle tick (no records)', () => {
    const tick = { ...batch([]), idleMs: 61_000 };
    const { wire } = packBatch(tick);
    expect(unpackRecords(wire)).toEqual([]);
    expect(wire.idleMs).toBe(61_000);
  });
});
