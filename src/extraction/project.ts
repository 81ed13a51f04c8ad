import type { ColumnConfig, ScalarType } from '../config/index.js';
import { pathReader } from '../core/index.js';
import { convert, Unfit } from './convert.js';

interface ColumnPlan {
  readonly name: string;
  readonly read: (fields: Record<string, unknown>) => unknown;
  readonly field: string;
  readonly type: ScalarType;
  readonly nullable: boolean;
}

function plan(columns: readonly ColumnConfig[]): ColumnPlan[] {
  return columns.map((c) => {
    const nullable = c.type.startsWith('Nullable(');
    const type = (nullable ? c.type.slice('Nullable('.length, -1) : c.type) as ScalarType;
    const field = c.field ?? c.name;
    return { name: c.name, field, read: pathReader(field), type, nullable };
  });
}

/** Build one row, or the reason (naming the field) why the record does not fit the columns. */
export function projectRecord(
  columns: readonly ColumnPlan[],
  fields: Record<string, unknown>,
): { values: Record<string, unknown> } | { reason: string } {
  const values: Record<string, unknown> = {};
  for (const c of columns) {
    const v = c.read(fields);
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
