import { describeValue } from '../core/index.js';
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

function toInteger(type: string, v: unknown): Converted {
  const [min, max] = INT_RANGES[type]!;
  let n: bigint;
  if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v);
  else return { ok: false, reason: `expected an integer (${type}), got ${describe(v)}` };
  if (n < min || n > max) return { ok: false, reason: `${n} is out of range for ${type} [${min}, ${max}]` };
  // 64-bit values travel as strings so no precision is lost in JSON.
  return { ok: true, value: type.endsWith('64') ? n.toString() : Number(n) };
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Converts one field value to the declared ClickHouse type (see README: Output columns). */
export function convertValue(type: ScalarType, v: unknown): Converted {
  switch (type) {
    case 'String':
      return typeof v === 'string'
        ? { ok: true, value: v }
        : { ok: false, reason: `expected a string, got ${describe(v)}` };
    case 'Float32':
    case 'Float64':
      return typeof v === 'number' && Number.isFinite(v)
        ? { ok: true, value: v }
        : { ok: false, reason: `expected a finite number (${type}), got ${describe(v)}` };
    case 'Bool':
      return typeof v === 'boolean'
        ? { ok: true, value: v ? 1 : 0 }
        : { ok: false, reason: `expected true or false, got ${describe(v)}` };
    case 'Date':
      return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v))
        ? { ok: true, value: v }
        : { ok: false, reason: `expected a date as "YYYY-MM-DD", got ${describe(v)}` };
    case 'DateTime': {
      // Epoch seconds, or an ISO-8601 string; stored as UTC seconds.
      let seconds: number;
      if (typeof v === 'number' && Number.isInteger(v)) seconds = v;
      else if (typeof v === 'string' && !Number.isNaN(Date.parse(v)))
        seconds = Math.floor(Date.parse(v) / 1000);
      else
        return { ok: false, reason: `expected epoch seconds or an ISO-8601 date-time, got ${describe(v)}` };
      if (seconds < 0 || seconds > 4294967295)
        return { ok: false, reason: `${describe(v)} is outside DateTime's range` };
      const d = new Date(seconds * 1000);
      const text = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
      return { ok: true, value: text };
    }
    default:
      return toInteger(type, v);
  }
}
