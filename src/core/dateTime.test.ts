import { describe, expect, it } from 'vitest';
import { parseDate } from './dateTime.js';

describe('parseDate', () => {
  it('reads each text as Date.parse does, however texts alternate and repeat', () => {
    const texts = [
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:00:00.000Z',
      '2026-01-01T00:00:00.001Z',
      'not a date',
      'not a date',
      '2026-01-01T00:00:00.000Z',
      '',
      '2026-01-01T01:00:00+01:00',
    ];
    expect(texts.map(parseDate)).toEqual(texts.map((t) => Date.parse(t)));
  });
});
