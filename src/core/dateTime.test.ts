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

  it('gives what Date.parse gives for ISO texts of every year, month, day and time, and near misses', () => {
    const texts: string[] = [];
    // Spread over years 100 to 9999 (a fixed step, so the run is the same each time), both forms.
    const from = Date.UTC(100, 0, 1);
    const to = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    const step = Math.floor((to - from) / 20_000) + 7_777; // odd: days, hours and milliseconds vary
    for (let ms = from; ms <= to; ms += step) {
      const iso = new Date(ms).toISOString();
      texts.push(iso, `${iso.slice(0, 19)}Z`);
    }
    // Every day of 2024 (a leap year) and 2100 (not one) at both ends of the day.
    for (const year of [2024, 2100, 1970, 1969]) {
      for (let d = Date.UTC(year, 0, 1); d < Date.UTC(year + 1, 0, 1); d += 86_400_000) {
        texts.push(new Date(d).toISOString(), new Date(d + 86_399_999).toISOString());
      }
    }
    const good = '2026-12-03T13:45:07.123Z';
    texts.push(
      '2023-02-29T00:00:00.000Z',
      '2024-02-30T00:00:00Z',
      '2026-04-31T12:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
      '2026-01-01T23:60:00.000Z',
      '2026-01-01T23:59:60.000Z',
      '0099-12-31T23:59:59.999Z',
      '0100-01-01T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '2026-12-03t13:45:07.123z',
      '2026-12-03 13:45:07.123Z',
      '2026-12-03T13:45:07.123+01:00',
      '2026-12-03T13:45:07.12Z',
      '2026-12-03T13:45:07.1234Z',
      '+002026-12-03T13:45:07.123Z',
      '2026-12-03',
      '2026-12-03T13:45Z',
    );
    // Each character of a good text replaced by a non-digit, and each digit by another digit.
    for (let i = 0; i < good.length; i++) {
      for (const c of ['x', ' ', '/', ':', '9', '0']) texts.push(good.slice(0, i) + c + good.slice(i + 1));
    }
    expect(texts.length).toBeGreaterThan(40_000);
    const wrong = texts.filter((t) => !Object.is(parseDate(t), Date.parse(t)));
    expect(wrong).toEqual([]);
  });
});
