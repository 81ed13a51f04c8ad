import { describe, expect, it } from 'vitest';
import { pathReader } from './paths.js';

describe('pathReader', () => {
  it('reads any field name as it is written, quotes, backslashes and line separators included', () => {
    const names = ['plain', 'with "quotes"', "it's", 'back\\slash', 'line\u2028sep', '${x}', '`tick`', ''];
    const fields = Object.fromEntries(names.map((n, i) => [n, i]));
    expect(names.map((n) => pathReader(n)(fields))).toEqual(names.map((_, i) => i));
    expect(pathReader('missing')(fields)).toBeUndefined();
  });

  it('follows dotted paths, and stops at what is not an object', () => {
    const fields = { a: { b: { c: 1 } }, s: 'text' };
    expect(pathReader('a.b.c')(fields)).toBe(1);
    expect(pathReader('a.x.c')(fields)).toBeUndefined();
    expect(pathReader('s.length')(fields)).toBeUndefined();
  });
});
