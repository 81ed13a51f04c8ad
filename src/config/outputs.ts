import type { z } from 'zod';
import type { columnSchema } from './outputSchema.js';
import { sourceRouter } from './routing.js';
import type { SourceConfig } from './sourceSchema.js';

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
  /** The index in `tables` of the table a topic's records go to (undefined: no source reads it). */
  tableOf(topic: string): number | undefined;
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
  readonly sources: readonly (Pick<SourceConfig, 'topics' | 'topicPattern'> & {
    output?: OutputTable | undefined;
  })[];
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
  const route = sourceRouter(config.sources);
  return {
    database: output.database,
    tables,
    ofSource,
    tableOf: (topic) => ofSource[route(topic) ?? -1],
    deadLetterTable: deadLetterTableName(config),
    addColumns: output.addColumns ?? false,
  };
}

/** What the clash check reads of a pipeline config. */
interface ClashShape extends Shape {
  readonly features: readonly { name: string }[];
}

/**
 * Every table of a database has one job: output tables (shared only with the same columns), the
 * dead letters' table, and one table per feature set.
 */
export function tableNameClashes(p: ClashShape, ctx: z.RefinementCtx): void {
  const outputs = new Map<string, { where: string; columns: string }>();
  const named: [string, (string | number)[], string, readonly unknown[]][] = [];
  if (p.output?.table && p.output.columns)
    named.push([p.output.table, ['output', 'table'], 'output.table', p.output.columns]);
  p.sources.forEach((s, i) => {
    if (s.output)
      named.push([
        s.output.table,
        ['sources', i, 'output', 'table'],
        `sources[${i}].output`,
        s.output.columns,
      ]);
  });
  for (const [table, path, where, columns] of named) {
    const seen = outputs.get(table);
    const text = JSON.stringify(columns);
    if (!seen) outputs.set(table, { where, columns: text });
    else if (seen.columns !== text)
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${table} is also the table of ${seen.where}, with other columns: declare the same columns, or another table`,
      });
  }
  const deadLetters = deadLetterTableName(p);
  const dlqPath = p.deadLetters.table ? ['deadLetters', 'table'] : ['output', 'table'];
  if (outputs.has(deadLetters))
    ctx.addIssue({
      code: 'custom',
      path: dlqPath,
      message: `the dead letters' table ${deadLetters} is also the table of ${outputs.get(deadLetters)!.where}`,
    });
  p.features.forEach((fs, i) => {
    const clash =
      outputs.get(fs.name)?.where ?? (fs.name === deadLetters ? "the dead letters' table" : undefined);
    if (clash)
      ctx.addIssue({
        code: 'custom',
        path: ['features', i, 'name'],
        message: `${fs.name} is already taken by ${clash}: each feature set has a table of its own, named after it`,
      });
  });
}
