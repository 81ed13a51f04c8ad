/**
 * ClickHouse DateTime text ('YYYY-MM-DD hh:mm:ss', UTC) for epoch seconds. Records of a lane mostly
 * share their second, and window bounds repeat across a flush: each second is formatted once.
 */
const texts = new Map<number, string>();

export function dateTimeText(seconds: number): string {
  let text = texts.get(seconds);
  if (text === undefined) {
    if (texts.size > 4096) texts.clear();
    text = new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
    texts.set(seconds, text);
  }
  return text;
}

let lastText = '';
let lastMs = Number.NaN;

/** The two decimal digits at `i`, or -1. */
function twoDigits(t: string, i: number): number {
  const a = t.charCodeAt(i) - 48;
  const b = t.charCodeAt(i + 1) - 48;
  return a >>> 0 > 9 || b >>> 0 > 9 ? -1 : a * 10 + b;
}

/**
 * Epoch milliseconds of `YYYY-MM-DDThh:mm:ssZ` or `YYYY-MM-DDThh:mm:ss.sssZ` (what `toISOString`
 * writes, and most producers) for years 100 and up and hours 0 to 23; NaN for any other text,
 * which Date.parse then reads. A day past its month's end rolls over, as Date.parse does (April 31
 * is May 1). Date.parse took 0.24-0.36 µs a value of this form, and this 0.08; both give the same
 * number for every text (src/core/dateTime.test.ts compares them).
 */
function isoUtc(t: string): number {
  const n = t.length;
  if (
    (n !== 24 && n !== 20) ||
    t.charCodeAt(4) !== 45 || // -
    t.charCodeAt(7) !== 45 ||
    t.charCodeAt(10) !== 84 || // T
    t.charCodeAt(13) !== 58 || // :
    t.charCodeAt(16) !== 58 ||
    t.charCodeAt(n - 1) !== 90 || // Z
    (n === 24 && t.charCodeAt(19) !== 46) // .
  )
    return Number.NaN;
  const century = twoDigits(t, 0);
  const yy = twoDigits(t, 2);
  const month = twoDigits(t, 5);
  const day = twoDigits(t, 8);
  const hour = twoDigits(t, 11);
  const minute = twoDigits(t, 14);
  const second = twoDigits(t, 17);
  let ms = 0;
  if (n === 24) {
    const first = t.charCodeAt(20) - 48;
    const rest = twoDigits(t, 21);
    if (first >>> 0 > 9 || rest < 0) return Number.NaN;
    ms = first * 100 + rest;
  }
  if (century < 1 || yy < 0 || month < 1 || month > 12 || day < 1 || day > 31) return Number.NaN;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return Number.NaN;
  // Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's days_from_civil).
  const y = century * 100 + yy - (month <= 2 ? 1 : 0);
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  const days = era * 146097 + dayOfEra - 719468;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms;
}

/**
 * `Date.parse`, remembering the last text it read: a record's event time is often also a DateTime
 * column, and projection and extraction each read it. The common ISO form is read by hand (isoUtc).
 */
export function parseDate(text: string): number {
  if (text !== lastText) {
    const fast = isoUtc(text);
    lastMs = Number.isNaN(fast) ? Date.parse(text) : fast; // NaN: not the common form
    lastText = text;
  }
  return lastMs;
}
