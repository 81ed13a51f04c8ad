import { HEADER_FIELD, type ColumnConfig, type ScalarType } from '../config/index.js';
import { describeValue, pathReader } from '../core/index.js';
import { convert, toDecimal, Unfit } from './convert.js';

type Headers = Readonly<Record<string, string>>;

/** Reads a record field (dotted path), or a Kafka header for `$header.<name>`. */
export function fieldReader(field: string): (fields: Record<string, unknown>, headers: Headers) => unknown {
  if (field.startsWith(HEADER_FIELD)) {
    const header = field.slice(HEADER_FIELD.length);
    return (_, headers) => headers[header];
  }
  return pathReader(field); // takes no headers
}

interface ColumnPlan {
  readonly name: string;
  readonly read: (fields: Record<string, unknown>, headers: Headers) => unknown;
  readonly field: string;
  /** the declared type, for messages */
  readonly declared: string;
  /** the value (or an Array element, or a Map value) may be null */
  readonly nullable: boolean;
  readonly array: boolean;
  /** a Map(key, type): a JSON object whose values are converted */
  readonly map: boolean;
  /** a Map's key type other than String: each key read as it (its text, as ClickHouse reads JSON keys) */
  readonly convertKey: ((key: string) => unknown) | undefined;
  /** converts a value (or an element, or a Map value) to its scalar type */
  readonly convert: (v: unknown) => unknown;
}

/** DateTime('Zone') as DateTime, DateTime64(P, 'Zone') as DateTime64(P). */
const withoutZone = (type: string) =>
  type
    .replace(/^DateTime\('[^']*'\)$/, 'DateTime')
    .replace(/^DateTime64\((\d), ?'[^']*'\)$/, 'DateTime64($1)');

const unwrap = (type: string, wrapper: string) =>
  type.startsWith(`${wrapper}(`) ? type.slice(wrapper.length + 1, -1) : undefined;

function plan(columns: readonly ColumnConfig[]): ColumnPlan[] {
  return columns.map((c) => {
    // LowCardinality changes how ClickHouse stores a column (or an element, a key, a Map value), not
    // what goes into it.
    const stored = unwrap(c.type, 'LowCardinality') ?? c.type;
    const element = unwrap(stored, 'Array');
    const [, keyType, mapped] = /^([^,]+), ?(.+)$/.exec(unwrap(stored, 'Map') ?? '') ?? [];
    const textKey = keyType === undefined || keyType === 'String' || keyType === 'LowCardinality(String)';
    const wrapped = element ?? mapped ?? stored;
    const inner = unwrap(wrapped, 'LowCardinality') ?? wrapped;
    const nullable = unwrap(inner, 'Nullable') !== undefined;
    // the scalar type of the value, or of each Array element or Map value; a timezone changes how
    // ClickHouse shows a DateTime, not the instant sent (epoch seconds, or UTC text)
    const type = withoutZone(unwrap(inner, 'Nullable') ?? inner) as ScalarType;
    const field = c.field ?? c.name;
    const decimal = /^Decimal\((\d+), ?(\d+)\)$/.exec(type);
    return {
      name: c.name,
      field,
      read: fieldReader(field),
      declared: c.type,
      nullable,
      array: !!element,
      map: mapped !== undefined,
      // UUID keys in lower case: ClickHouse takes 'AB...' and 'ab...' as one key.
      convertKey: textKey
        ? undefined
        : keyType === 'UUID'
          ? (k: string) => {
              const r = convert('UUID', k);
              return typeof r === 'string' ? r.toLowerCase() : r;
            }
          : (k: string) => convert(keyType as ScalarType, k),
      convert: decimal
        ? (v: unknown) => toDecimal(v, Number(decimal[1]), Number(decimal[2]))
        : (v: unknown) => convert(type, v),
    };
  });
}

/** A Map column's value: an object whose every value is converted, or why one does not fit (naming its key). */
function convertMap(c: ColumnPlan, v: unknown): Record<string, unknown> | Unfit {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    return new Unfit(`expected an object (${c.declared}), got ${describeValue(v)}`);
  const out: Record<string, unknown> = {};
  /** converted key -> the key as the record wrote it */
  const written = c.convertKey ? new Map<string, string>() : undefined;
  for (const [text, e] of Object.entries(v)) {
    let k = text;
    if (c.convertKey) {
      const key = c.convertKey(text);
      if (key instanceof Unfit) return new Unfit(`key '${text}': ${key.reason}`);
      k = String(key);
      // "7" and "07" are one UInt8 key: one of the values would be lost without a word.
      const before = written!.get(k);
      if (before !== undefined)
        return new Unfit(`keys '${before}' and '${text}' are the same key ${k} (${c.declared})`);
      written!.set(k, text);
    }
    if (e === null || e === undefined) {
      if (!c.nullable) return new Unfit(`key '${text}' is null (${c.declared} has no Nullable values)`);
      out[k] = null;
      continue;
    }
    const r = c.convert(e);
    if (r instanceof Unfit) return new Unfit(`key '${text}': ${r.reason}`);
    out[k] = r;
  }
  return out;
}

/** An Array column's value: every element converted, or why one does not fit (naming its index). */
function convertArray(c: ColumnPlan, v: unknown): unknown[] | Unfit {
  if (!Array.isArray(v)) return new Unfit(`expected an array (${c.declared}), got ${describeValue(v)}`);
  const out = new Array<unknown>(v.length);
  for (let i = 0; i < v.length; i++) {
    const e: unknown = v[i];
    if (e === null || e === undefined) {
      if (!c.nullable) return new Unfit(`element ${i} is null (${c.declared} has no Nullable elements)`);
      out[i] = null;
      continue;
    }
    const r = c.convert(e);
    if (r instanceof Unfit) return new Unfit(`element ${i}: ${r.reason}`);
    out[i] = r;
  }
  return out;
}

/** One row from a record, or the reason (naming the field) why the record does not fit the columns. */
type Projected = { values: Record<string, unknown> } | { reason: string };
export type Projection = (fields: Record<string, unknown>, headers: Headers) => Projected;

const missing = (c: ColumnPlan, v: null | undefined) => ({
  reason: `field '${c.field}': ${v === null ? 'is null' : 'is missing'} (column ${c.name} ${c.declared} is not Nullable)`,
});
const unfitField = (c: ColumnPlan, r: Unfit) => ({ reason: `field '${c.field}': ${r.reason}` });

const projections = new WeakMap<readonly ColumnPlan[], Projection>();

/**
 * The projection of a column plan: one row from a record, or the reason (naming the field) why the
 * record does not fit the columns. Compiled once per plan into a function of its own: each column's
 * read and conversion is a call site of its own (monomorphic, inlined), and the row is an object
 * literal with the columns as its keys, in their order (one shape for every row). One closure
 * looping over the columns saw every column at each site, and built each row key by key.
 */
export function projector(columns: readonly ColumnPlan[]): Projection {
  let project = projections.get(columns);
  if (project) return project;
  const lines = ['let v;'];
  columns.forEach((c, i) => {
    lines.push(`v = read${i}(fields, headers);`);
    const none = c.nullable && !c.array && !c.map ? `r${i} = null;` : `return missing(columns[${i}], v);`;
    const convert = c.array
      ? `convertArray(columns[${i}], v)`
      : c.map
        ? `convertMap(columns[${i}], v)`
        : `convert${i}(v)`;
    lines.push(
      `let r${i};`,
      `if (v === undefined || v === null) ${none}`,
      `else if ((r${i} = ${convert}) instanceof Unfit) return unfitField(columns[${i}], r${i});`,
    );
  });
  // Names as JSON string literals: any text is a valid key.
  const row = columns.map((c, i) => `${JSON.stringify(c.name)}: r${i}`).join(', ');
  lines.push(`return { values: { ${row} } };`);
  const names = columns.flatMap((_, i) => [`read${i}`, `convert${i}`]);
  const make = new Function(
    'columns',
    'Unfit',
    'missing',
    'unfitField',
    'convertArray',
    'convertMap',
    ...names,
    `return (fields, headers) => {\n${lines.join('\n')}\n};`,
  ) as (...args: unknown[]) => Projection;
  project = make(
    columns,
    Unfit,
    missing,
    unfitField,
    convertArray,
    convertMap,
    ...columns.flatMap((c) => [c.read, c.convert]),
  );
  projections.set(columns, project);
  return project;
}

/** Build one row, or the reason (naming the field) why the record does not fit the columns. */
export function projectRecord(
  columns: readonly ColumnPlan[],
  fields: Record<string, unknown>,
  headers: Headers = {},
): Projected {
  return projector(columns)(fields, headers);
}

export { plan as planColumns };
