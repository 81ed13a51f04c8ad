import { z } from 'zod';

/** ClickHouse column types the output may declare; all of them exist on 18.16 as well as current servers. */
export const SCALAR_TYPES = [
  'String',
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Int8',
  'Int16',
  'Int32',
  'Int64',
  'Float32',
  'Float64',
  'Bool',
  'Date',
  'DateTime',
  'UUID',
  // Milliseconds and microseconds; not in ClickHouse 18.16 (the sink says so at start).
  'DateTime64(3)',
  'DateTime64(6)',
] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];

/** Decimal(P, S) too: precision 1 to 38, scale 0 to P (checked beside the pattern). */
/** A timezone name as ClickHouse takes it ('UTC', 'Europe/Oslo', 'Etc/GMT+2'). */
const ZONE = `'[A-Za-z][A-Za-z0-9_+\\-/]*'`;
/** DateTime and DateTime64 with a timezone too: DateTime('Europe/Oslo'), DateTime64(3, 'UTC'). */
const SCALAR = `(?:${SCALAR_TYPES.map((t) => t.replace(/[()]/g, '\\$&')).join('|')}|Decimal\\(\\d{1,2}, ?\\d{1,2}\\)|DateTime\\(${ZONE}\\)|DateTime64\\([36], ?${ZONE}\\))`;
const MAYBE_NULL = `(?:${SCALAR}|Nullable\\(${SCALAR}\\))`;
const LOW_CARDINALITY = `LowCardinality\\((?:String|Nullable\\(String\\))\\)`;
/** Map keys: a JSON object's keys are text, read as one of these. */
const MAP_KEY = `(?:String|LowCardinality\\(String\\)|U?Int(?:8|16|32|64)|Date|UUID)`;
/** What a column, an Array's elements or a Map's values can be. */
const ELEMENT = `(?:${MAYBE_NULL}|${LOW_CARDINALITY})`;
/**
 * A scalar, Nullable(scalar), LowCardinality of a (Nullable) String, Array of one of these
 * (ClickHouse has no Nullable(Array(...))), or Map to one of these from a key type in MAP_KEY.
 */
const COLUMN_TYPE = new RegExp(`^(?:${ELEMENT}|Array\\(${ELEMENT}\\)|Map\\(${MAP_KEY}, ?${ELEMENT}\\))$`);

/** An unquoted ClickHouse identifier: we refuse anything that would need quoting. */
export const identifier = z
  .string()
  .regex(
    /^[A-Za-z_][A-Za-z0-9_]*$/,
    'must be an identifier: letters, digits and _, not starting with a digit',
  );

export const columnSchema = z
  .object({
    name: identifier,
    type: z
      .string()
      .regex(
        COLUMN_TYPE,
        `must be one of ${SCALAR_TYPES.join(', ')}, Decimal(P, S), DateTime('Zone/Name'), DateTime64(3 or 6, 'Zone/Name'), Nullable(one of them), LowCardinality(String), LowCardinality(Nullable(String)), Array(a type of those kinds), or Map(a key of String, LowCardinality(String), an integer type, Date or UUID, a type of those kinds)`,
      )
      .refine((t) => {
        const m = /Decimal\((\d+), ?(\d+)\)/.exec(t);
        return !m || (Number(m[1]) >= 1 && Number(m[1]) <= 38 && Number(m[2]) <= Number(m[1]));
      }, 'Decimal(P, S) takes a precision P from 1 to 38 and a scale S from 0 to P'),
    /** The record field this column is read from; defaults to the column name. */
    field: z.string().min(1).optional(),
  })
  .strict();

/** Output columns: at least one, unique names, none starting with _ (the source columns' prefix). */
const columnsSchema = z
  .array(columnSchema)
  .min(1, 'must declare at least one column')
  .superRefine((columns, ctx) => {
    const seen = new Set<string>();
    columns.forEach((c, i) => {
      if (seen.has(c.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate column '${c.name}'` });
      }
      if (c.name.startsWith('_')) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `'${c.name}': names starting with _ are reserved for source columns (_topic, _partition, _offset, ...)`,
        });
      }
      seen.add(c.name);
    });
  });

/**
 * The ClickHouse database, and the table (with its columns) for the records of every source that
 * does not name its own. Without a table here, every source must have its own `output`.
 */
export const outputSchema = z
  .object({
    database: identifier.default('default'),
    table: identifier.optional(),
    columns: columnsSchema.optional(),
    /**
     * Add declared columns an existing output table lacks (ALTER TABLE ADD COLUMN) instead of refusing
     * to start. Off by default: on a cluster, the Distributed table and its shards' tables both need it.
     */
    addColumns: z.boolean().default(false),
  })
  .strict()
  .superRefine((out, ctx) => {
    if (out.table !== undefined && out.columns === undefined)
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'is required with table' });
    if (out.columns !== undefined && out.table === undefined)
      ctx.addIssue({ code: 'custom', path: ['table'], message: 'is required with columns' });
  });

/** A source's own table in output.database: its records are stored there instead of in output.table. */
export const sourceOutputSchema = z
  .object({
    table: identifier,
    columns: columnsSchema,
  })
  .strict();
