import { describe, expect, it } from 'vitest';
import { sendChunks } from './forwardSink.js';

describe('forward sink sends', () => {
  it('splits a round into sends of at most 256 KiB of keys and values, in order', () => {
    const m = (i: number, size: number) => ({ key: 'k', value: 'x'.repeat(size - 1), partition: i });
    const messages = Array.from({ length: 10 }, (_, i) => m(i, 100 * 1024));
    const chunks = sendChunks(messages);
    expect(chunks.map((c) => c.length)).toEqual([2, 2, 2, 2, 2]);
    expect(chunks.flat()).toEqual(messages);
    // A message larger than a send goes alone (the broker then says if it is too large).
    expect(sendChunks([m(0, 10), m(1, 300 * 1024), m(2, 10)]).map((c) => c.length)).toEqual([1, 1, 1]);
    expect(sendChunks([])).toEqual([]);
  });
});
