import { dateTimeText, describeValue, parseDate } from '../core/index.js';
import type { ScalarType } from '../config/index.js';

/** A value ready for a JSONEachRow insert, or the reason it does not fit the column. */
export type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  UInt8: [0n, 255n],
  UInt16: [0n, 65535n],
  UInt32: [0n, 4294967295n],
  UInt64: [0n, 18446744073709551615n],
  Int8: [-128n, 127n],
  Int16: [-32768n, 32767n],
  Int32: [-2147483648n, 2147483647n],
  Int64: [-9223372036854775808n, 9223372036854775807n],
};

const describe = describeValue;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Why a value does not fit its column (a class, so the hot path allocates only on failure). */
export class Unfit {
  constructor(readonly reason: string) {}
}

const NUMBER_RANGES = Object.fromEntries(
  Object.entries(INT_RANGES).map(([t, [min, max]]) => [t, [Number(min), Number(max)] as const]),
);

function toInteger(type: string, v: unknown): unknown {
  const wide = type.endsWith('64');
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    const [min, max] = NUMBER_RANGES[type]!;
    if (v >= min && v <= max) return wide ? String(v) : v;
  }
  const [min, max] = INT_RANGES[type]!;
  let n: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v);
  else return new Unfit(`expected an integer (${type}), got ${describe(v)}`);
  if (n < min || n > max) return new Unfit(`${n} is out of range for ${type} [${min}, ${max}]`);
  // 64-bit values travel as strings so no precision is lost.
  return wide ? n.toString() : Number(n);
}

/** DateTime64's range in current ClickHouse: 1900-01-01 to 2299-12-31, UTC. */
const DATETIME64_RANGE = [-2208988800, 10413791999] as const;

/**
 * DateTime64 as ISO-8601 UTC text ('YYYY-MM-DDThh:mm:ss.fffZ') from epoch seconds (a fraction keeps
 * its digits to the precision) or an ISO-8601 string, whose fraction digits past milliseconds are
 * kept too. RowBinary's writer turns it into ticks since the epoch: the same instant whatever the
 * server's or the column's timezone.
 */
function toDateTime64(v: unknown, precision: number): unknown {
  let seconds: number;
  let fraction: string;
  if (typeof v === 'number' && Number.isFinite(v)) {
    seconds = Math.floor(v);
    const rounded = (v - seconds).toFixed(precision); // "0.123", or "1.000" when it rounds up
    if (rounded.startsWith('1')) seconds += 1;
    fraction = rounded.slice(2);
  } else {
    const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (Number.isNaN(ms))
      return new Unfit(`expected epoch seconds or an ISO-8601 date-time, got ${describe(v)}`);
    seconds = Math.floor(ms / 1000);
    const finer = /T[\d:]+\.\d{3}(\d+)/.exec(v as string)?.[1] ?? '';
    fraction = (String(ms - seconds * 1000).padStart(3, '0') + finer)
      .padEnd(precision, '0')
      .slice(0, precision);
  }
  if (seconds < DATETIME64_RANGE[0] || seconds > DATETIME64_RANGE[1]) {
    const hint =
      typeof v === 'number' && v > DATETIME64_RANGE[1] ? ' (epoch milliseconds? divide by 1000)' : '';
    return new Unfit(`${describe(v)} is outside DateTime64's range${hint}`);
  }
  return `${dateTimeText(seconds).replace(' ', 'T')}.${fraction}Z`;
}

/**
 * Decimal(P, S) as exact decimal text (sent quoted: current engines parse it digit for digit). A
 * number is taken as JavaScript prints it (its shortest exact form); a string must be plain decimal
 * digits. More integer digits than P - S, or more decimal places than S, do not fit: ClickHouse
 * would refuse the first and silently cut the second.
 */
export function toDecimal(v: unknown, precision: number, scale: number): unknown {
  const type = `Decimal(${precision}, ${scale})`;
  let text: string;
  if (typeof v === 'number' && Number.isFinite(v)) {
    if (Math.abs(v) > Number.MAX_SAFE_INTEGER)
      return new Unfit(
        `${describe(v)} is past 2^53, where JSON numbers lose digits; send it as a string (${type})`,
      );
    text = plainDecimal(String(v));
  } else if (typeof v === 'string' && DECIMAL_TEXT.test(v)) {
    text = v;
  } else {
    return new Unfit(`expected a decimal number (${type}), got ${describe(v)}`);
  }
  const m = DECIMAL_TEXT.exec(text)!;
  const sign = m[1] ?? '';
  const whole = m[2]!.replace(/^0+(?=\d)/, '');
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  if (fraction.length > scale)
    return new Unfit(`${describe(v)} has more than ${scale} decimal places (${type})`);
  if ((whole === '0' ? 0 : whole.length) > precision - scale)
    return new Unfit(`${describe(v)} has more than ${precision - scale} digits before the point (${type})`);
  return `${sign === '-' && (whole !== '0' || fraction !== '') ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

const DECIMAL_TEXT = /^([-+])?(\d+)(?:\.(\d+))?$/;

/** JavaScript's exponent form of a number ("1e-7", "1.5e+25") written out as plain decimal digits. */
function plainDecimal(text: string): string {
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(text);
  if (!m) return text;
  const digits = m[2]! + (m[3] ?? '');
  const point = 1 + Number(m[4]);
  const body =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + '0'.repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return m[1] + body;
}

/** Converts one field value to the declared ClickHouse type, or says why it does not fit. */
export function convert(type: ScalarType, v: unknown): unknown {
  switch (type) {
    case 'String':
      return typeof v === 'string' ? v : new Unfit(`expected a string, got ${describe(v)}`);
    case 'Float32':
    case 'Float64':
      return typeof v === 'number' && Number.isFinite(v)
        ? v
        : new Unfit(`expected a finite number (${type}), got ${describe(v)}`);
    case 'Bool':
      return typeof v === 'boolean' ? (v ? 1 : 0) : new Unfit(`expected true or false, got ${describe(v)}`);
    case 'Date': {
      const days = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(v) / 86_400_000 : NaN;
      if (Number.isNaN(days)) return new Unfit(`expected a date as "YYYY-MM-DD", got ${describe(v)}`);
      // Days since 1970-01-01 in a UInt16; ClickHouse would store a date outside as another one.
      return days >= 0 && days <= 65535
        ? v
        : new Unfit(`${describe(v)} is outside Date's range (1970-01-01 to 2149-06-06)`);
    }
    case 'DateTime': {
      // Epoch seconds, or an ISO-8601 string; stored as UTC seconds.
      let seconds: number;
      if (typeof v === 'number' && Number.isInteger(v)) seconds = v;
      else {
        const ms = typeof v === 'string' ? parseDate(v) : Number.NaN;
        if (Number.isNaN(ms))
          return new Unfit(`expected epoch seconds or an ISO-8601 date-time, got ${describe(v)}`);
        seconds = Math.floor(ms / 1000);
      }
      if (seconds < 0 || seconds > 4294967295) return new Unfit(`${describe(v)} is outside DateTime's range`);
      // Epoch seconds, a number: ClickHouse reads text in the column's (or server's) timezone,
      // and a number is the same instant in any of them.
      return seconds;
    }
    case 'DateTime64(3)':
      return toDateTime64(v, 3);
    case 'DateTime64(6)':
      return toDateTime64(v, 6);
    case 'UUID':
      return typeof v === 'string' && UUID.test(v)
        ? v
        : new Unfit(`expected a UUID (8-4-4-4-12 hex digits), got ${describe(v)}`);
    default:
      return toInteger(type, v);
  }
}

/** `convert`, as a result object. */
export function convertValue(type: ScalarType, v: unknown): Converted {
  const r = convert(type, v);
  return r instanceof Unfit ? { ok: false, reason: r.reason } : { ok: true, value: r };
}
