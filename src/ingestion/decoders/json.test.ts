import { describe, expect, it } from 'vitest';
import { decodeJsonValue } from './json.js';

const framed = (id: number, text: string) => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(id, 1);
  return Buffer.concat([header, Buffer.from(text)]);
};

describe('decodeJsonValue', () => {
  it('decodes a JSON object', () => {
    expect(decodeJsonValue(Buffer.from('{"a":1,"b":"x"}'))).toEqual({ fields: { a: 1, b: 'x' } });
  });

  it.each([
    [null, 'empty value (tombstone): nothing to decode'],
    [Buffer.from('{"a":'), /^invalid JSON: /],
    [Buffer.from('[1,2]'), 'JSON value is an array, expected an object'],
    [Buffer.from('42'), 'JSON value is number, expected an object'],
    [Buffer.from('null'), 'JSON value is null, expected an object'],
  ])('rejects %s with a reason', (value, reason) => {
    const r = decodeJsonValue(value);
    expect('reason' in r).toBe(true);
    if ('reason' in r) expect(r.reason).toMatch(reason);
  });

  it('reads JSON behind a Confluent schema-registry header, and names the schema id when it is broken', () => {
    expect(decodeJsonValue(framed(42, '{"a":1}'))).toEqual({ fields: { a: 1 } });
    expect(decodeJsonValue(framed(42, '{"a":'))).toEqual({
      reason: expect.stringMatching(/^invalid JSON after the schema-registry header \(schema id 42\): /),
    });
    expect(decodeJsonValue(Buffer.from([0, 0, 1]))).toEqual({
      reason: 'invalid JSON: starts with byte 0x00 but is too short (3 bytes) for a schema-registry header',
    });
  });
});
