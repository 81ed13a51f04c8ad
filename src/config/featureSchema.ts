import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "5m", "1h", "1d" -> milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 500ms, 30s, 5m, 1h or 1d')
  .transform((v) => {
    const [, n, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(v)!;
    return Number(n) * UNITS[unit!]!;
  });

const wholeSeconds = duration.refine(
  (ms) => ms > 0 && ms % 1000 === 0,
  'must be a whole number of seconds, above 0',
);

export const AGGREGATIONS = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'variance',
  'stddev',
  'count_distinct',
  'approx_count_distinct',
  'first',
  'last',
  'rate',
] as const;

const aggregationSchema = z
  .object({
    /** Output column name. */
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an identifier: letters, digits and _'),
    fn: z.enum(AGGREGATIONS),
    /** The record field aggregated (all but count and rate need one). */
    field: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    const needsField = a.fn !== 'count' && a.fn !== 'rate';
    if (needsField && !a.field)
      ctx.addIssue({ code: 'custom', path: ['field'], message: `is required for ${a.fn}` });
  });

const windowSchema = z
  .object({
    type: z.enum(['tumbling', 'hopping', 'session']),
    /** tumbling and hopping: the window length */
    size: wholeSeconds.optional(),
    /** hopping only: how far each window starts after the previous one */
    step: wholeSeconds.optional(),
    /** session only: a gap of this much event time or more between an entity's records ends its session */
    gap: wholeSeconds.optional(),
  })
  .strict()
  .superRefine((w, ctx) => {
    const only = (key: 'size' | 'step' | 'gap', types: string) =>
      ctx.addIssue({ code: 'custom', path: [key], message: `only applies to ${types} windows` });
    const required = (key: 'size' | 'step' | 'gap', types: string) =>
      ctx.addIssue({ code: 'custom', path: [key], message: `is required for ${types} windows` });
    if (w.type === 'session') {
      if (w.gap === undefined) required('gap', 'session');
      if (w.size !== undefined) only('size', 'tumbling and hopping');
      if (w.step !== undefined) only('step', 'hopping');
      return;
    }
    if (w.size === undefined) required('size', `${w.type}`);
    if (w.gap !== undefined) only('gap', 'session');
    if (w.type === 'hopping' && w.step === undefined) required('step', 'hopping');
    if (w.type === 'tumbling' && w.step !== undefined) only('step', 'hopping');
    if (w.step !== undefined && w.size !== undefined && (w.step > w.size || w.size % w.step !== 0)) {
      ctx.addIssue({ code: 'custom', path: ['step'], message: 'must divide size and be at most size' });
    }
  });

export const featureSetSchema = z
  .object({
    /** Output table name. */
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an identifier: letters, digits and _'),
    /** Entity: a record field (dotted path), $key for the Kafka message key, or $header.<name> for a Kafka header. */
    entity: z.string().min(1),
    /** Event time: a record field (ISO-8601 string, or epoch milliseconds), $timestamp for the Kafka timestamp, or $header.<name>. */
    eventTime: z.string().min(1),
    window: windowSchema,
    /** The watermark trails the highest event time a lane has seen by this much. */
    outOfOrderness: duration.default(0),
    /** A window closes once the watermark passes its end plus this; later records are dead-lettered as late. */
    allowedLateness: duration.default(0),
    /**
     * A lane with no records for this long (processing time, once it has caught up) lets its event
     * time run on with the clock, so its windows close. "off": an idle lane keeps its windows open.
     */
    idleTimeout: z
      .string()
      .transform((v, ctx) => {
        if (v === 'off') return null;
        const ms = duration.safeParse(v);
        if (ms.success && ms.data > 0) return ms.data;
        ctx.addIssue({ code: 'custom', message: 'must be off, or a duration above 0 such as 30s, 5m or 1h' });
        return z.NEVER;
      })
      .default(60_000),
    aggregations: z.array(aggregationSchema).min(1, 'must declare at least one aggregation'),
    /** Ceiling on open windows (all lanes of this process): the bound on window state memory. */
    maxOpenWindows: z.number().int().min(1).default(1_000_000),
    /** At the ceiling: stop with an error naming the feature set, or dead-letter records that would open a window. */
    onLimit: z.enum(['fail', 'dead-letter']).default('fail'),
  })
  .strict()
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.aggregations.forEach((a, i) => {
      if (seen.has(a.name) || RESERVED.has(a.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['aggregations', i, 'name'],
          message: `'${a.name}' is taken (reserved: ${[...RESERVED].join(', ')})`,
        });
      }
      seen.add(a.name);
    });
  });

export const RESERVED = new Set([
  'entity',
  'window_start',
  'window_end',
  'window_start_ms',
  'window_end_ms',
  'record_count',
  'source_topic',
  'source_partition',
  'version',
  'created_at',
]);

export type FeatureSetConfig = z.output<typeof featureSetSchema>;
export type AggregationConfig = FeatureSetConfig['aggregations'][number];

/**
 * The columns an aggregation writes (ClickHouse types valid on 18.16 too). avg, variance and stddev
 * also write their partials (_n_, _sum_, _sumsq_) so a view can merge them across partitions.
 */
export function aggregationColumns(a: AggregationConfig): { name: string; type: string }[] {
  switch (a.fn) {
    case 'count':
    case 'count_distinct':
    case 'approx_count_distinct':
      return [{ name: a.name, type: 'UInt64' }];
    case 'sum':
    case 'rate':
      return [{ name: a.name, type: 'Float64' }];
    case 'min':
    case 'max':
      return [{ name: a.name, type: 'Nullable(Float64)' }];
    case 'first':
    case 'last':
      return [{ name: a.name, type: 'Nullable(String)' }];
    default:
      return [
        { name: a.name, type: 'Float64' },
        { name: `_n_${a.name}`, type: 'UInt64' },
        { name: `_sum_${a.name}`, type: 'Float64' },
        { name: `_sumsq_${a.name}`, type: 'Float64' },
      ];
  }
}
