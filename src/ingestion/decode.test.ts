import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAck, type Batch, type SourceRecord } from '../core/index.js';
import { decodeRecords } from './decode.js';
import type { Decoder } from './decoders/decoder.js';

function batch(partition: number, offset: number): Batch<SourceRecord> {
  const record: SourceRecord = {
    topic: 't',
    partition,
    offset: String(offset),
    key: null,
    value: Buffer.from(`{"n":${offset}}`),
    headers: {},
    timestamp: 0,
  };
  return {
    lane: { topic: 't', partition },
    ack: createAck().ack,
    firstOffset: record.offset,
    lastOffset: record.offset,
    records: [record],
    rejected: [],
    filtered: 0,
  };
}

describe('decodeRecords', () => {
  it("keeps each lane's order when a batch waits for the registry and the next one does not", async () => {
    // Offset 0 of each lane waits (a schema fetch); the rest are ready at once.
    const decoder: Decoder = {
      prepare: (records) => new Promise((r) => setTimeout(r, records[0]!.offset === '0' ? 30 : 0)),
      decode: (r) => ({ fields: JSON.parse(r.value!.toString()) as Record<string, unknown> }),
    };
    const out = await lastValueFrom(
      from([batch(0, 0), batch(0, 1), batch(1, 0), batch(0, 2), batch(1, 1)]).pipe(
        decodeRecords(() => decoder),
        toArray(),
      ),
    );
    const order = (p: number) => out.filter((b) => b.lane.partition === p).map((b) => b.firstOffset);
    expect(order(0)).toEqual(['0', '1', '2']);
    expect(order(1)).toEqual(['0', '1']);
  });
});
