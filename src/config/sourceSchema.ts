import { z } from 'zod';
import { sourceOutputSchema } from './outputSchema.js';

/** A Confluent-compatible schema registry (Confluent, Apicurio's ccompat API, Redpanda, Karapace). */
const registrySettings = {
  url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  requestTimeoutMs: z.number().int().min(100).max(60000).default(5000),
  /** HTTP Basic credentials (Confluent Cloud: the API key and secret). */
  username: z.string().min(1).optional(),
  password: z.string().optional(),
};

const passwordNeedsUser = (
  r: { username?: string | undefined; password?: string | undefined },
  ctx: z.RefinementCtx,
) => {
  if (r.password !== undefined && r.username === undefined)
    ctx.addIssue({ code: 'custom', path: ['username'], message: 'is required with password' });
};

/** Avro: a schema file for plain Avro binary, or a Confluent-compatible registry for the wire format. */
const avroSchema = z
  .object({
    /** Plain Avro binary values written with this schema (.avsc, relative to the pipeline file). */
    schemaFile: z.string().min(1).optional(),
    /** Confluent wire format (magic byte 0, 4-byte schema id): writer schemas come from this registry. */
    registry: z
      .object({
        ...registrySettings,
        /**
         * What records are decoded into: `writer` (each record's own schema), `latest` (the latest
         * version of the subject `<topic>-value`, re-read when a new writer schema appears; older
         * records then get the defaults of newer fields), or a path to an .avsc file.
         */
        readerSchema: z.string().min(1).default('writer'),
      })
      .strict()
      .superRefine(passwordNeedsUser)
      .optional(),
  })
  .strict()
  .superRefine((a, ctx) => {
    if (!a.schemaFile === !a.registry) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of schemaFile, registry' });
    }
  });

/**
 * Protobuf: a .proto file and the message type for plain Protobuf values, or a registry for the
 * Confluent wire format (magic byte 0, schema id, message indexes), where each value names its type.
 */
const protobufSchema = z
  .object({
    /** Plain Protobuf values of `messageType` (.proto, relative to the pipeline file; imports resolve from it). */
    schemaFile: z.string().min(1).optional(),
    /** The fully qualified message type of every value, e.g. shop.v1.Order (with schemaFile). */
    messageType: z.string().min(1).optional(),
    registry: z.object(registrySettings).strict().superRefine(passwordNeedsUser).optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.schemaFile === !p.registry) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of schemaFile, registry' });
    }
    if (p.schemaFile && !p.messageType)
      ctx.addIssue({
        code: 'custom',
        path: ['messageType'],
        message: 'is required with schemaFile (the fully qualified type of the values, e.g. shop.v1.Order)',
      });
    if (p.registry && p.messageType)
      ctx.addIssue({
        code: 'custom',
        path: ['messageType'],
        message: 'only applies with schemaFile: with a registry, each value names its own type',
      });
  });

export const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array'] as const;
export const CAST_TYPES = ['string', 'number', 'integer', 'boolean'] as const;

const fieldName = z.string().min(1);

/** A value a default step may set: a scalar, or a list of them (an empty list for an Array column). */
const defaultScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One transform step; each step is an object with exactly one of these keys. */
const stepSchema = z
  .object({
    /** Fields that must be present (not null) with these types. */
    require: z.record(fieldName, z.enum(FIELD_TYPES)).optional(),
    /** old name -> new name */
    rename: z.record(fieldName, fieldName).optional(),
    /** field -> type; a value that cannot be converted rejects the record, naming the field. */
    cast: z.record(fieldName, z.enum(CAST_TYPES)).optional(),
    /** field -> value used when the field is missing or null */
    default: z.record(fieldName, z.union([defaultScalar, z.array(defaultScalar)])).optional(),
    /** field -> expression (filtrex) over the record's fields */
    derive: z.record(fieldName, z.string().min(1)).optional(),
    /** keep records for which this expression is true; the others are counted as filtered */
    filter: z.string().min(1).optional(),
    /** join fields from a static CSV or JSON lookup file */
    enrich: z
      .object({
        file: z.string().min(1),
        /** column (CSV) or property (JSON) of the lookup rows that holds the key */
        key: fieldName,
        /** record field matched against the key (default: the same name as key) */
        on: fieldName.optional(),
        /** lookup columns copied onto the record (default: all but the key) */
        fields: z.array(fieldName).min(1).optional(),
        /** what to do when no lookup row matches */
        missing: z.enum(['keep', 'null', 'reject']).default('keep'),
      })
      .strict()
      .optional(),
    /** a module path (relative to the pipeline file) whose default export is (record) => record | null | { reject } */
    custom: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    const keys = Object.keys(step).filter((k) => step[k as keyof typeof step] !== undefined);
    if (keys.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `each step has exactly one of require, rename, cast, default, derive, filter, enrich, custom (found ${keys.length === 0 ? 'none' : keys.join(', ')})`,
      });
    }
  });

export type TransformStep = z.output<typeof stepSchema>;

export const sourceSchema = z
  .object({
    /** A name for logs and metrics (default: the first topic or the pattern). */
    name: z.string().min(1).optional(),
    topics: z.array(z.string().min(1)).min(1, 'must list at least one topic').optional(),
    /** A regular expression; every matching topic is consumed (new ones as the group rebalances). */
    topicPattern: z.string().min(1).optional(),
    format: z.enum(['json', 'avro', 'protobuf']).default('json'),
    avro: avroSchema.optional(),
    protobuf: protobufSchema.optional(),
    transform: z.array(stepSchema).default([]),
    /** This source's own table (in output.database), instead of output.table. */
    output: sourceOutputSchema.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.topics === !s.topicPattern) {
      ctx.addIssue({ code: 'custom', message: 'set exactly one of topics, topicPattern' });
    }
    if (s.topicPattern) {
      try {
        new RegExp(s.topicPattern);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['topicPattern'],
          message: `not a regular expression: ${(err as Error).message}`,
        });
      }
    }
    if (s.format === 'avro' && !s.avro) {
      ctx.addIssue({
        code: 'custom',
        path: ['avro'],
        message: 'is required when format is avro (schemaFile or registry)',
      });
    }
    if (s.format === 'protobuf' && !s.protobuf) {
      ctx.addIssue({
        code: 'custom',
        path: ['protobuf'],
        message: 'is required when format is protobuf (schemaFile and messageType, or registry)',
      });
    }
    if (s.format !== 'avro' && s.avro) {
      ctx.addIssue({ code: 'custom', path: ['avro'], message: 'only applies to format: avro' });
    }
    if (s.format !== 'protobuf' && s.protobuf) {
      ctx.addIssue({ code: 'custom', path: ['protobuf'], message: 'only applies to format: protobuf' });
    }
  });

export type SourceConfig = z.output<typeof sourceSchema>;
