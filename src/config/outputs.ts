import type { z } from 'zod';
import type { columnSchema } from './outputSchema.js';

type Column = z.output<typeof columnSchema>;

/** One table records are stored in, with the columns they are projected onto. */
export interface OutputTable {
  readonly table: string;
  readonly columns: readonly Column[];
}

/** Where records go: the output tables, which one holds each source's records, and the dead letters' table. */
export interface OutputPlan {
  readonly database: string;
  /** Distinct tables: output.table first (when set), then the sources' own in source order. */
  readonly tables: readonly OutputTable[];
  /** For each source (by index), its table's index in `tables`. */
  readonly ofSource: readonly number[];
  readonly deadLetterTable: string;
  /** Add declared columns an existing output table lacks. */
  readonly addColumns: boolean;
}

interface Shape {
  readonly output?: {
    database: string;
    table?: string | undefined;
    columns?: readonly Column[] | undefined;
    addColumns?: boolean;
  };
  readonly sources: readonly { output?: OutputTable | undefined }[];
  readonly deadLetters: { table?: string | undefined };
}

/** Dead letters of every table go to one: deadLetters.table, else `<output.table>_dead_letters`, else `dead_letters`. */
export function deadLetterTableName(config: Shape): string {
  return (
    config.deadLetters.table ??
    (config.output?.table ? `${config.output.table}_dead_letters` : 'dead_letters')
  );
}

/**
 * The tables of a validated config (undefined in hybrid mode, which stores nothing). Two sources
 * naming the same table share it (validation made sure they declare the same columns).
 */
export function outputPlan(config: Shape): OutputPlan | undefined {
  const output = config.output;
  if (!output) return undefined;
  const tables: OutputTable[] = [];
  const index = new Map<string, number>();
  const add = (t: OutputTable) => {
    let i = index.get(t.table);
    if (i === undefined) {
      index.set(t.table, (i = tables.length));
      tables.push(t);
    }
    return i;
  };
  const fallback =
    output.table !== undefined && output.columns !== undefined
      ? add({ table: output.table, columns: output.columns })
      : -1;
  const ofSource = config.sources.map((s) => (s.output ? add(s.output) : fallback));
  return {
    database: output.database,
    tables,
    ofSource,
    deadLetterTable: deadLetterTableName(config),
    addColumns: output.addColumns ?? false,
  };
}
