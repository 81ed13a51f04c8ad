import { join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../core/index.js';
import type { RegisteredSchema, SchemaRegistry } from '../schemaRegistry.js';
import {
  loadProtoType,
  protobufFileDecoder,
  protobufRegistryDecoder,
  readMessageIndexes,
} from './protobuf.js';

const FIXTURES = resolve(import.meta.dirname, '../../../test/fixtures/protobuf');

function rec(value: Buffer | null): SourceRecord {
  return { topic: 'orders', partition: 0, offset: '0', key: null, value, headers: {}, timestamp: 0 };
}

/** Magic byte, schema id, the message-index bytes as given, then the message. */
function wire(id: number, indexes: number[], message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(id, 1);
  return Buffer.concat([head, Buffer.from(indexes), message]);
}

/**
 * shop.v1 with Money and Order (Order imports google/protobuf/timestamp.proto), as Confluent's Python
 * serializer (confluent-kafka 2.16) registered it: a base64 FileDescriptorProto, which Apicurio
 * gives back as is. Copied from the registry here; test/protobuf.test.ts produces with it live.
 */
const PYTHON_REGISTERED =
  'CgtvcmRlci5wcm90bxIHc2hvcC52MRofZ29vZ2xlL3Byb3RvYnVmL3RpbWVzdGFtcC5wcm90byIpCgVNb25leRIQCghjdXJyZW5jeRgBIAEoCRIOCgZhbW91bnQYAiABKAEilQIKBU9yZGVyEhAKCG9yZGVyX2lkGAEgASgJEg8KB3VzZXJfaWQYAiABKAkSEAoIcXVhbnRpdHkYAyABKAMSHQoFcHJpY2UYBCABKAsyDi5zaG9wLnYxLk1vbmV5Ei4KCmNyZWF0ZWRfYXQYBSABKAsyGi5nb29nbGUucHJvdG9idWYuVGltZXN0YW1wEiUKBnN0YXR1cxgGIAEoDjIVLnNob3AudjEuT3JkZXIuU3RhdHVzEgwKBHRhZ3MYByADKAkSDAoEZ2lmdBgIIAEoCBIMCgRub3RlGAkgASgMIjcKBlN0YXR1cxIWChJTVEFUVVNfVU5TUEVDSUZJRUQQABIICgRQQUlEEAESCwoHU0hJUFBFRBACYgZwcm90bzM=';

/** The same kind of schema as Confluent's registry returns it: .proto text, importing a reference. */
const TEXT_MAIN = `syntax = "proto3";
package t.main;
import "ref.proto";
message First { string s = 1; }
message Second {
  message Inner { t.ref.Ref ref = 1; string label = 2; }
  int64 n = 1;
}`;
const TEXT_REF = `syntax = "proto3";
package t.ref;
message Ref { int64 id = 1; }`;

/** An in-memory stand-in for the registry's read calls; the real one is in test/protobuf.test.ts. */
function registry(
  byId: Record<number, RegisteredSchema>,
  subjects: Record<string, RegisteredSchema>,
): SchemaRegistry {
  return {
    schemaById: async (id) => byId[id]?.schema,
    schemaRecord: async (id) => byId[id],
    subjectVersion: async (subject, version) => subjects[`${subject}/${version}`],
    latest: async () => undefined,
  };
}

describe('protobuf message indexes', () => {
  it('reads the one-byte form of the first type, a top-level index and a nested path', () => {
    expect(readMessageIndexes(Buffer.from([0, 0xaa]), 0)).toEqual({ indexes: [0], end: 1 });
    expect(readMessageIndexes(Buffer.from([2, 2, 0xaa]), 0)).toEqual({ indexes: [1], end: 2 });
    expect(readMessageIndexes(Buffer.from([4, 2, 0]), 0)).toEqual({ indexes: [1, 0], end: 3 });
    // 150 as a zigzag varint: 300 = 0xac 0x02
    expect(readMessageIndexes(Buffer.from([2, 0xac, 0x02]), 0)).toEqual({ indexes: [150], end: 3 });
    expect(() => readMessageIndexes(Buffer.from([4, 2]), 0)).toThrow(/runs past the end/);
  });
});

describe('protobuf file decoder', () => {
  const type = loadProtoType(join(FIXTURES, 'order.proto'), 'shop.v1.Order');

  it('decodes every kind of field into plain values', () => {
    const message = type.fromObject({
      order_id: 'o-1',
      customer: { user_id: 'u-7', country: 'DE' },
      quantity: 3,
      total: { currency: 'EUR', amount: 12.5 },
      created_at: { seconds: 1764331200, nanos: 123_000_000 },
      status: 'SHIPPED',
      tags: ['a', 'b'],
      gift: true,
      note: Buffer.from([0, 255]),
      coupon: { value: 'WELCOME' },
      big_id: '18446744073709551615',
      items: [{ sku: 'sku-1', quantity: 2, price: { currency: 'EUR', amount: 6.25 } }],
    });
    const d = protobufFileDecoder(type);
    const out = d.decode(rec(Buffer.from(type.encode(message).finish())));
    expect(out).toEqual({
      fields: {
        order_id: 'o-1',
        customer: { user_id: 'u-7', country: 'DE' },
        quantity: 3, // int64 within 2^53: a number
        total: { currency: 'EUR', amount: 12.5 },
        created_at: '2025-11-28T12:00:00.123Z',
        status: 'SHIPPED',
        tags: ['a', 'b'],
        gift: true,
        note: 'AP8=',
        coupon: 'WELCOME',
        big_id: '18446744073709551615', // past 2^53: exact, as text
        items: [{ sku: 'sku-1', quantity: 2, price: { currency: 'EUR', amount: 6.25 } }],
      },
    });
  });

  it("gives absent fields proto3's defaults, and null for absent messages", () => {
    const d = protobufFileDecoder(type);
    const out = d.decode(rec(Buffer.alloc(0)));
    expect(out).toMatchObject({
      fields: {
        order_id: '',
        customer: null,
        quantity: 0,
        created_at: null,
        status: 'STATUS_UNSPECIFIED',
        tags: [],
        gift: false,
        coupon: null,
        big_id: 0,
      },
    });
  });

  it('names the type when bytes are not its message, and says a tombstone has nothing', () => {
    const d = protobufFileDecoder(type);
    expect(d.decode(rec(Buffer.from([0x0a, 0x10, 0x41])))).toEqual({
      reason: expect.stringMatching(/^invalid Protobuf for shop\.v1\.Order: .*index out of range/),
    });
    expect(d.decode(rec(null))).toEqual({ reason: 'empty value (tombstone): nothing to decode' });
  });

  it('refuses a type the file does not have, listing those it has', () => {
    expect(() => loadProtoType(join(FIXTURES, 'order.proto'), 'shop.v1.Nope')).toThrow(
      /no message type shop\.v1\.Nope in it \(it has: .*shop\.v1\.Order, shop\.v1\.Order\.LineItem/,
    );
  });
});

describe('protobuf registry decoder', () => {
  const byId: Record<number, RegisteredSchema> = {
    1: { schema: PYTHON_REGISTERED, schemaType: 'PROTOBUF', references: [] },
    2: {
      schema: TEXT_MAIN,
      schemaType: 'PROTOBUF',
      references: [{ name: 'ref.proto', subject: 'ref-subject', version: 3 }],
    },
    3: { schema: '{"type":"string"}' },
  };
  const subjects = { 'ref-subject/3': { schema: TEXT_REF, schemaType: 'PROTOBUF' } };
  const pyRoot = new protobuf.Root();
  pyRoot.addJSON(protobuf.common.get('google/protobuf/timestamp.proto')!.nested!);
  protobuf.parse(
    `syntax = "proto3"; package shop.v1; import "google/protobuf/timestamp.proto";
     message Money { string currency = 1; double amount = 2; }
     message Order { string order_id = 1; int64 quantity = 3; google.protobuf.Timestamp created_at = 5; }`,
    pyRoot,
    { keepCase: true },
  );
  const textRoot = protobuf.parse(TEXT_REF, new protobuf.Root(), { keepCase: true }).root;
  protobuf.parse(TEXT_MAIN, textRoot, { keepCase: true });
  const encode = (root: protobuf.Root, name: string, o: object) => {
    const t = root.lookupType(name);
    return t.encode(t.fromObject(o)).finish();
  };

  it('finds the type by its message indexes, in a base64 descriptor and in .proto text with references', async () => {
    const d = protobufRegistryDecoder(registry(byId, subjects));
    const records = [
      rec(
        wire(
          1,
          [2, 2],
          encode(pyRoot, 'shop.v1.Order', { order_id: 'o-9', quantity: 4, created_at: { seconds: 0 } }),
        ),
      ),
      rec(wire(1, [0], encode(pyRoot, 'shop.v1.Money', { currency: 'USD', amount: 1 }))),
      rec(wire(2, [0], encode(textRoot, 't.main.First', { s: 'x' }))),
      rec(wire(2, [4, 2, 0], encode(textRoot, 't.main.Second.Inner', { ref: { id: 9 }, label: 'deep' }))),
    ];
    await d.prepare(records);
    expect(records.map((r) => d.decode(r))).toEqual([
      {
        fields: expect.objectContaining({
          order_id: 'o-9',
          quantity: 4,
          created_at: '1970-01-01T00:00:00.000Z',
        }),
      },
      { fields: { currency: 'USD', amount: 1 } },
      { fields: { s: 'x' } },
      { fields: { ref: { id: 9 }, label: 'deep' } },
    ]);
  });

  it('says why a value cannot be read: not framed, unknown id, not Protobuf, no such index, bad bytes', async () => {
    const d = protobufRegistryDecoder(registry(byId, subjects));
    const records = [
      rec(Buffer.from('{"json":true}')),
      rec(wire(7, [0], Buffer.alloc(0))),
      rec(wire(3, [0], Buffer.alloc(0))),
      rec(wire(2, [4, 2, 8], Buffer.alloc(0))),
      rec(wire(1, [2, 2], Buffer.from([0x0a, 0x10, 0x41]))),
    ];
    await d.prepare(records);
    expect(records.map((r) => d.decode(r))).toEqual([
      {
        reason: expect.stringMatching(
          /^not in the Confluent wire format: expected magic byte 0x00.*got 0x7b/,
        ),
      },
      { reason: 'schema id 7 is not in the schema registry' },
      { reason: 'schema id 3 is a AVRO schema, not Protobuf' },
      { reason: 'schema id 2 has no message at index path [1, 4]' },
      { reason: expect.stringMatching(/^invalid Protobuf for shop\.v1\.Order \(schema id 1\): /) },
    ]);
  });

  it('names a reference the registry does not have', async () => {
    const d = protobufRegistryDecoder(registry(byId, {}));
    const r = rec(wire(2, [0], Buffer.alloc(0)));
    await d.prepare([r]);
    expect(d.decode(r)).toEqual({
      reason:
        'schema id 2 cannot be read as Protobuf: schema id 2 references ref.proto (subject ref-subject version 3), which the registry does not have',
    });
  });
});
