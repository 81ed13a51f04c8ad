import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../core/index.js';
import type { SchemaRegistry } from '../schemaRegistry.js';
import { avroFileDecoder, avroRegistryDecoder, parseAvroSchema } from './avro.js';

const v1 = {
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
};
const v2 = { ...v1, fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }] };

function rec(value: Buffer | null): SourceRecord {
  return { topic: 'orders', partition: 0, offset: '0', key: null, value, headers: {}, timestamp: 0 };
}

function wire(id: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, payload]);
}

/** An in-memory stand-in for the registry's read calls; the real registry is in test/avro.test.ts. */
function registry(schemas: Record<number, object>, latestId: () => number): SchemaRegistry {
  return {
    schemaById: async (id) => (schemas[id] ? JSON.stringify(schemas[id]) : undefined),
    schemaRecord: async (id) => (schemas[id] ? { schema: JSON.stringify(schemas[id]) } : undefined),
    subjectVersion: async () => undefined,
    latest: async () => ({ id: latestId(), schema: JSON.stringify(schemas[latestId()]) }),
  };
}

describe('avro decoders', () => {
  const t1 = avro.Type.forSchema(v1 as avro.Schema);
  const t2 = avro.Type.forSchema(v2 as avro.Schema);

  it('decodes plain Avro with a schema file type, and names what is wrong with bad bytes', () => {
    const d = avroFileDecoder(parseAvroSchema(JSON.stringify(v1)));
    expect(d.decode(rec(t1.toBuffer({ id: 'a', amount: 2 })))).toEqual({
      fields: expect.objectContaining({ id: 'a', amount: 2 }),
    });
    expect(d.decode(rec(Buffer.from([0x02])))).toEqual({
      reason: expect.stringMatching(/^invalid Avro for Order: /),
    });
  });

  describe('with the fields the pipeline reads', () => {
    const wide = parseAvroSchema(
      JSON.stringify({
        type: 'record',
        name: 'shop.Event',
        fields: [
          { name: 'id', type: 'string' },
          {
            name: 'home',
            type: { type: 'record', name: 'Place', fields: [{ name: 'city', type: 'string' }] },
          },
          { name: 'away', type: 'Place' }, // a named type defined in a field nobody reads
          { name: 'url', type: 'string' },
          { name: 'tags', type: { type: 'array', items: 'string' } },
          { name: 'note', type: ['null', 'string'] },
          { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B'] } },
          { name: 'amount', type: 'double' },
        ],
      }),
    );
    const value = {
      id: 'e-1',
      home: { city: 'Oslo' },
      away: { city: 'Bergen' },
      url: '/a/long/path',
      tags: ['x', 'y'],
      note: 'hello',
      kind: 'B',
      amount: 2.5,
    };
    const read = new Set(['id', 'away', 'amount', 'missing']);

    it('decodes those (and any that may hold an enum, which only a read checks), skipping the rest', () => {
      const d = avroFileDecoder(wide, read);
      const got = d.decode(rec(wide.toBuffer(value)));
      expect(got).toEqual({ fields: { id: 'e-1', away: { city: 'Bergen' }, kind: 'B', amount: 2.5 } });
      // the whole record without the set
      expect(avroFileDecoder(wide).decode(rec(wide.toBuffer(value)))).toEqual({
        fields: expect.objectContaining(value),
      });
    });

    it('gives a value that does not decode the reason the whole schema gives', () => {
      const good = wide.toBuffer(value);
      const badUnion = Buffer.from(good);
      // note's union branch index (zigzag 2 = 1) becomes 3 (zigzag 6): no such branch, in a skipped field
      const at = good.indexOf(Buffer.from([0x02, 0x0a, ...Buffer.from('hello')]));
      expect(at).toBeGreaterThan(0);
      badUnion[at] = 0x06;
      const badEnum = Buffer.from(good);
      badEnum[good.length - 9] = 0x08; // kind's index 1 (zigzag 2) becomes 4: out of range
      for (const bytes of [
        good.subarray(0, good.length - 3),
        Buffer.concat([good, Buffer.from([2])]),
        badUnion,
        badEnum,
      ]) {
        const whole = avroFileDecoder(wide).decode(rec(bytes));
        expect(whole).toEqual({ reason: expect.stringMatching(/^invalid Avro for shop.Event: /) });
        expect(avroFileDecoder(wide, read).decode(rec(bytes))).toEqual(whole);
      }
    });
  });

  it('resolves old writer schemas to the latest reader, filling defaults', async () => {
    const d = avroRegistryDecoder(
      registry({ 1: v1, 2: v2 }, () => 2),
      { kind: 'latest' },
      (t) => `${t}-value`,
    );
    const records = [
      rec(wire(1, t1.toBuffer({ id: 'a', amount: 1 }))),
      rec(wire(2, t2.toBuffer({ id: 'b', amount: 2, currency: 'NOK' }))),
    ];
    await d.prepare(records);
    expect(records.map((r) => ({ ...(d.decode(r) as { fields: object }).fields }))).toEqual([
      { id: 'a', amount: 1, currency: 'EUR' },
      { id: 'b', amount: 2, currency: 'NOK' },
    ]);
  });

  it('with the fields read, resolves into them: defaults filled, the same refusals and reasons', async () => {
    // v3 changes amount to a string: the whole v2 reader cannot read it, though id and currency would
    const v3 = {
      ...v1,
      fields: [
        { name: 'id', type: 'string' },
        { name: 'amount', type: 'string' },
      ],
    };
    const t3 = avro.Type.forSchema(v3 as avro.Schema);
    const make = (read?: ReadonlySet<string>) =>
      avroRegistryDecoder(
        registry({ 1: v1, 2: v2, 3: v3 }, () => 2),
        { kind: 'latest' },
        (t) => `${t}-value`,
        read,
      );
    const good1 = t1.toBuffer({ id: 'a', amount: 1 });
    const records = [
      rec(wire(1, good1)),
      rec(wire(2, t2.toBuffer({ id: 'b', amount: 2, currency: 'NOK' }))),
      rec(wire(3, t3.toBuffer({ id: 'c', amount: 'x' }))),
      rec(wire(1, good1.subarray(0, good1.length - 2))),
    ];
    const narrow = make(new Set(['id', 'currency']));
    const whole = make();
    await narrow.prepare(records);
    await whole.prepare(records);
    const got = records.map((r) => narrow.decode(r));
    expect(got.slice(0, 2).map((d) => ({ ...(d as { fields: object }).fields }))).toEqual([
      { id: 'a', currency: 'EUR' },
      { id: 'b', currency: 'NOK' },
    ]);
    expect(got.slice(2)).toEqual([
      { reason: expect.stringMatching(/^writer schema id 3 cannot be read as the reader schema: /) },
      { reason: expect.stringMatching(/^invalid Avro for schema id 1: /) },
    ]);
    expect(got.slice(2)).toEqual(records.slice(2).map((r) => whole.decode(r)));
  });

  it('keeps resolving after the latest schema is read again for a later batch', async () => {
    // Regression: each refresh re-parsed the reader, so a resolver cached for the previous reader
    // instance failed with "invalid resolver" (seen with two lanes preparing batches at once).
    const latestId = 2;
    const d = avroRegistryDecoder(
      registry({ 1: v1, 2: v2, 3: v1 }, () => latestId),
      { kind: 'latest' },
      (t) => `${t}-value`,
    );
    const first = [rec(wire(1, t1.toBuffer({ id: 'a', amount: 1 })))];
    await d.prepare(first);
    expect(d.decode(first[0]!)).toEqual({ fields: expect.objectContaining({ id: 'a', currency: 'EUR' }) });
    // A new writer id (3) makes the decoder read the latest version again.
    const second = [
      rec(wire(3, t1.toBuffer({ id: 'b', amount: 2 }))),
      rec(wire(1, t1.toBuffer({ id: 'c', amount: 3 }))),
    ];
    await d.prepare(second);
    expect(second.map((r) => ({ ...(d.decode(r) as { fields: object }).fields }))).toEqual([
      { id: 'b', amount: 2, currency: 'EUR' },
      { id: 'c', amount: 3, currency: 'EUR' },
    ]);
  });

  it('rejects bytes outside the wire format and unknown schema ids', async () => {
    const d = avroRegistryDecoder(
      registry({ 1: v1 }, () => 1),
      { kind: 'writer' },
      (t) => `${t}-value`,
    );
    const records = [rec(Buffer.from('{"json":true}')), rec(wire(7, Buffer.from([0])))];
    await d.prepare(records);
    expect(d.decode(records[0]!)).toEqual({
      reason:
        'not in the Confluent wire format: expected magic byte 0x00 and a 4-byte schema id, got 0x7b (13 bytes)',
    });
    expect(d.decode(records[1]!)).toEqual({ reason: 'schema id 7 is not in the schema registry' });
  });
});
