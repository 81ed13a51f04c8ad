import type { ColumnConfig, ScalarType } from '../config/index.js';
import { pathReader } from '../core/index.js';
import { convert, Unfit } from './convert.js';

/** A column's field may be a Kafka header instead of a record field: `$header.<name>`. */
export const HEADER_FIELD = '$header.';

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
  readonly type: ScalarType;
  readonly nullable: boolean;
}

function plan(columns: readonly ColumnConfig[]): ColumnPlan[] {
  return columns.map((c) => {
    const nullable = c.type.startsWith('Nullable(');
    const type = (nullable ? c.type.slice('Nullable('.length, -1) : c.type) as ScalarType;
    const field = c.field ?? c.name;
    return { name: c.name, field, read: fieldReader(field), type, nullable };
  });
}

/** Build one row, or the reason (naming the field) why the record does not fit the columns. */
export function projectRecord(
  columns: readonly ColumnPlan[],
  fields: Record<string, unknown>,
  headers: Headers = {},
): { values: Record<string, unknown> } | { reason: string } {
  const values: Record<string, unknown> = {};
  for (const c of columns) {
    const v = c.read(fields, headers);
    if (v === undefined || v === null) {
      if (c.nullable) {
        values[c.name] = null;
        continue;
      }
      return {
        reason: `field '${c.field}': ${v === null ? 'is null' : 'is missing'} (column ${c.name} ${c.type} is not Nullable)`,
      };
    }
    const r = convert(c.type, v);
    if (r instanceof Unfit) return { reason: `field '${c.field}': ${r.reason}` };
    values[c.name] = r;
  }
  return { values };
}

export { plan as planColumns };
