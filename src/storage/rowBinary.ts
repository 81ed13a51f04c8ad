import { describeValue } from '../core/index.js';
import { ByteWriter } from './byteWriter.js';

/**
 * RowBinary: ClickHouse's row format without text (numbers little-endian, strings as a varint
 * length and their bytes). The server reads it without parsing numbers or escapes, and a row is
 * about half as long as its JSON line. The values written are those column conversion produced
 * (extraction's `convert`, already checked against the type). A value of another shape is refused
 * with an error, never written as something else: RowBinary has no parser on the other side to
 * notice.
 */

type Write = (w: ByteWriter, v: unknown) => void;

function unfit(type: string, v: unknown): never {
  throw new TypeError(`${describeValue(v)} is not a ${type} value`);
}

/** Integers up to 32 bits, in their type's range (a byte written plainly would wrap). */
const integer =
  (type: string, min: number, max: number, write: (w: ByteWriter, v: number) => void): Write =>
  (w, v) =>
    Number.isInteger(v) && (v as number) >= min && (v as number) <= max
      ? write(w, v as number)
      : unfit(type, v);

const INTEGER_TEXT = /^-?\d+$/;
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const DAY_MS = 86_400_000;

const unwrap = (type: string, wrapper: string) =>
  type.startsWith(`${wrapper}(`) && type.endsWith(')') ? type.slice(wrapper.length + 1, -1) : undefined;

const DECIMAL_TEXT = /^(-?)(\d+)(?:\.(\d+))?$/;

/**
 * Decimal text (as conversion gives it) as the integer of its scaled value, or undefined when it
 * has more places than the scale or does not fit the integer's `size` bytes (which would wrap).
 */
function decimalInteger(text: string, scale: number, size: number): bigint | undefined {
  const m = DECIMAL_TEXT.exec(text);
  const fraction = m?.[3] ?? '';
  if (!m || fraction.length > scale) return undefined;
  const n = BigInt(m[2]! + fraction.padEnd(scale, '0'));
  const limit = 1n << BigInt(size * 8 - 1); // two's complement: -limit .. limit - 1
  if (m[1]) return n <= limit ? -n : undefined;
  return n < limit ? n : undefined;
}

/** A UUID's 16 bytes as ClickHouse keeps them: each 64-bit half little-endian, the high half first. */
function writeUuid(w: ByteWriter, v: unknown): void {
  if (typeof v !== 'string' || !UUID_TEXT.test(v)) unfit('UUID', v);
  const hex = v.replace(/-/g, '');
  w.ensure(16);
  for (const half of [0, 16])
    for (let i = 15; i >= 1; i -= 2) w.u8(parseInt(hex.slice(half + i - 1, half + i + 1), 16));
}

/**
 * The writer of one value of a stored column type (Bool is already UInt8 there), taking what
 * conversion produced: numbers, 64-bit integers and Decimals as text, dates as text, DateTime as
 * epoch seconds, DateTime64 as ISO-8601 UTC text, Arrays as arrays, Maps as objects.
 */
export function valueWriter(type: string): Write {
  const nullable = unwrap(type, 'Nullable');
  if (nullable !== undefined) {
    const inner = valueWriter(nullable);
    return (w, v) => {
      if (v === null || v === undefined) w.u8(1);
      else {
        w.u8(0);
        inner(w, v);
      }
    };
  }
  const low = unwrap(type, 'LowCardinality');
  if (low !== undefined) return valueWriter(low); // RowBinary sends the values themselves
  const array = unwrap(type, 'Array');
  if (array !== undefined) {
    const element = valueWriter(array);
    return (w, v) => {
      if (!Array.isArray(v)) unfit(type, v);
      w.varint(v.length);
      for (const e of v) element(w, e);
    };
  }
  const map = unwrap(type, 'Map');
  if (map !== undefined) {
    // No key type holds a comma (String, LowCardinality(String), integers, Date, UUID).
    const [, k, t] = /^([^,]+), ?(.+)$/.exec(map)!;
    // Keys are text in the converted object (as JSON keys are): read back as their type.
    const key = keyWriter(k!);
    const value = valueWriter(t!);
    return (w, v) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) unfit(type, v);
      const entries = Object.entries(v);
      w.varint(entries.length);
      for (const [name, e] of entries) {
        key(w, name);
        value(w, e);
      }
    };
  }
  const decimal = /^Decimal\((\d+), ?(\d+)\)$/.exec(type);
  if (decimal) {
    const precision = Number(decimal[1]);
    const scale = Number(decimal[2]);
    const size = precision <= 9 ? 4 : precision <= 18 ? 8 : 16; // the config allows P up to 38
    return (w, v) => {
      const n = typeof v === 'string' ? decimalInteger(v, scale, size) : undefined;
      if (n === undefined) unfit(type, v);
      w.bigint(n, size);
    };
  }
  const dt64 = /^DateTime64\((\d)(?:, ?'[^']*')?\)$/.exec(type);
  if (dt64) {
    const precision = Number(dt64[1]);
    const scale = 10n ** BigInt(precision);
    return (w, v) => {
      // 'YYYY-MM-DDThh:mm:ss.fffZ', with `precision` fraction digits.
      if (typeof v !== 'string') unfit(type, v);
      const text = v;
      const seconds = Date.parse(`${text.slice(0, 19)}Z`) / 1000;
      const ticks = BigInt(seconds) * scale + BigInt(text.slice(20, 20 + precision));
      w.bigint(ticks, 8);
    };
  }
  if (/^DateTime(?:\('[^']*'\))?$/.test(type)) return integer(type, 0, 0xffff_ffff, (w, v) => w.u32(v));
  switch (type) {
    case 'String':
      return (w, v) => (typeof v === 'string' ? w.string(v) : unfit(type, v));
    case 'UInt8':
      return integer(type, 0, 0xff, (w, v) => w.u8(v));
    case 'UInt16':
      return integer(type, 0, 0xffff, (w, v) => w.u16(v));
    case 'UInt32':
      return integer(type, 0, 0xffff_ffff, (w, v) => w.u32(v));
    case 'Int8':
      return integer(type, -0x80, 0x7f, (w, v) => w.i8(v));
    case 'Int16':
      return integer(type, -0x8000, 0x7fff, (w, v) => w.i16(v));
    case 'Int32':
      return integer(type, -0x8000_0000, 0x7fff_ffff, (w, v) => w.i32(v));
    case 'UInt64':
    case 'Int64':
      // Number() would also read '', '0x10' and '1e3': only an integer's digits pass.
      return (w, v) =>
        (typeof v === 'string' && INTEGER_TEXT.test(v)) || Number.isInteger(v)
          ? w.i64Text(String(v), type === 'Int64')
          : unfit(type, v);
    case 'Float32':
      return (w, v) => (typeof v === 'number' ? w.f32(v) : unfit(type, v));
    case 'Float64':
      return (w, v) => (typeof v === 'number' ? w.f64(v) : unfit(type, v));
    case 'Date':
      return (w, v) => {
        const days = typeof v === 'string' ? Date.parse(v) / DAY_MS : Number.NaN;
        // Date is days since 1970-01-01 in a UInt16: 1970-01-01 to 2149-06-06.
        if (!(Number.isInteger(days) && days >= 0 && days <= 65535)) unfit(type, v);
        w.u16(days);
      };
    case 'UUID':
      return writeUuid;
    default:
      throw new Error(`no RowBinary writer for column type ${type}`);
  }
}

/** A Map key's writer: the key is its text, as conversion left it. */
function keyWriter(type: string): (w: ByteWriter, key: string) => void {
  const inner = unwrap(type, 'LowCardinality') ?? type;
  const write = valueWriter(inner);
  // Number('') is 0: only an integer's digits are read as one.
  if (/^U?Int(8|16|32)$/.test(inner))
    return (w, k) => (INTEGER_TEXT.test(k) ? write(w, Number(k)) : unfit(inner, k));
  return write; // String, Date, UUID and the 64-bit integers take the text
}

/** Writes one row's values (see rowWriter). */
type RowWriter = (w: ByteWriter, values: Record<string, unknown>) => void;

/** A value its column's writer refused: the column's index, and why. */
export class ColumnFailure {
  constructor(
    readonly column: number,
    readonly cause: unknown,
  ) {}
}

/**
 * Writes a row's values of `columns` (stored types), in their order, from an object holding them
 * (as conversion gives them); a value its writer refuses throws a ColumnFailure. Compiled once
 * into a function of its own: each column's load and write is a site of its own (a constant key,
 * one writer), where a loop over the columns saw them all at each site. Names are identifiers,
 * written as JSON string literals.
 */
export function rowWriter(columns: readonly { name: string; type: string }[]): RowWriter {
  const writes = columns.map((c, i) => `c = ${i}; write${i}(w, values[${JSON.stringify(c.name)}]);`);
  const make = new Function(
    'ColumnFailure',
    ...columns.map((_, i) => `write${i}`),
    `return (w, values) => {\nlet c = 0;\ntry {\n${writes.join('\n')}\n} catch (err) {\nthrow new ColumnFailure(c, err);\n}\n};`,
  ) as (...args: unknown[]) => RowWriter;
  return make(ColumnFailure, ...columns.map((c) => valueWriter(c.type)));
}

/**
 * Rows given as objects holding every listed column (values as conversion gives them), in
 * RowBinary, in the order of `columns` (stored types). For the benchmark's bare inserts and tests;
 * the pipeline's encoder writes the source columns straight from the record. A refused value
 * throws its writer's error.
 */
export function encodeRowBinary(
  columns: readonly { name: string; type: string }[],
  rows: readonly Record<string, unknown>[],
): Uint8Array {
  const w = new ByteWriter();
  const write = rowWriter(columns);
  try {
    for (const row of rows) write(w, row);
  } catch (err) {
    throw err instanceof ColumnFailure ? err.cause : err;
  }
  return w.take();
}
