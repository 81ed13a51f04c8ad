import { describe, expect, it } from 'vitest';
import { decodeJsonValue } from './json.js';

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
});
