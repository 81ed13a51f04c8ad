import { z } from 'zod';
import { featureSetSchema } from './featureSchema.js';
import { sourceSchema } from './sourceSchema.js';
import { tableNameClashes } from './outputs.js';
import { columnSchema, identifier, outputSchema } from './outputSchema.js';
import { storageSchema } from './storageSchema.js';

export { SCALAR_TYPES, type ScalarType } from './outputSchema.js';

const brokerList = z
  .array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'))
  .min(1, 'must list at least one broker');

/** TLS to the brokers; the files are PEM, relative to the pipeline file. */
const kafkaTlsSchema = z
  .object({
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    passphrase: z.string().optional(),
    rejectUnauthorized: z.boolean().default(true),
    servername: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if (!tls.cert !== !tls.key)
      ctx.addIssue({ code: 'custom', message: 'set both cert and key (a client certificate), or neither' });
  });

const ENDPOINT_KEYS = ['tokenEndpoint', 'clientId', 'clientSecret', 'scope', 'clientAuth'] as const;
const OAUTH_KEYS = [...ENDPOINT_KEYS, 'tokenModule', 'extensions'] as const;

/**
 * SASL: a user and password (PLAIN, SCRAM), or OAUTHBEARER with access tokens from an OAuth 2.0
 * token endpoint by the client-credentials grant (the mechanism's own fields only).
 */
const kafkaSaslSchema = z
  .object({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer']),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    tokenEndpoint: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    clientId: z.string().min(1).optional(),
    clientSecret: z.string().min(1).optional(),
    /** space-separated scopes asked for */
    scope: z.string().min(1).optional(),
    /** SASL extensions sent with the token (Confluent Cloud: logicalCluster, identityPoolId) */
    extensions: z.record(z.string().regex(/^[A-Za-z]+$/, 'must be letters only'), z.string()).optional(),
    /** how the client authenticates to the token endpoint: HTTP Basic, or in the form body */
    clientAuth: z.enum(['basic', 'post']).optional(),
    /** instead of a token endpoint: a module whose default export gives { token, expiryTime } (MSK IAM) */
    tokenModule: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((sasl, ctx) => {
    const need = (keys: readonly string[]) =>
      keys.forEach((k) => {
        if (sasl[k as keyof typeof sasl] === undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: `is required with mechanism ${sasl.mechanism}`,
          });
      });
    const refuse = (keys: readonly string[], only: string) =>
      keys.forEach((k) => {
        if (sasl[k as keyof typeof sasl] !== undefined)
          ctx.addIssue({ code: 'custom', path: [k], message: `only with mechanism ${only}` });
      });
    if (sasl.mechanism === 'oauthbearer' && sasl.tokenModule !== undefined) {
      ENDPOINT_KEYS.forEach((k) => {
        if (sasl[k] !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [k],
            message: 'not with tokenModule (the module gets the token)',
          });
      });
      refuse(['username', 'password'], 'plain, scram-sha-256 or scram-sha-512');
    } else if (sasl.mechanism === 'oauthbearer') {
      need(['tokenEndpoint', 'clientId', 'clientSecret']);
      refuse(['username', 'password'], 'plain, scram-sha-256 or scram-sha-512');
    } else {
      need(['username', 'password']);
      refuse(OAUTH_KEYS, 'oauthbearer');
    }
  });

const kafkaSchema = z
  .object({
    brokers: brokerList,
    clientId: z.string().min(1).default('megaservice'),
    /** `true` for TLS with Node's trusted CAs, or TLS settings; default: no TLS. */
    ssl: z.union([z.boolean(), kafkaTlsSchema]).optional(),
    /** SASL authentication (over TLS when `ssl` is set). */
    sasl: kafkaSaslSchema.optional(),
    groupId: z.string().min(1),
    /** Where a new consumer group starts: the earliest retained offset, or only new records. */
    startFrom: z.enum(['earliest', 'latest']).default('earliest'),
    /** How many partitions (lanes) are processed at the same time. */
    partitionsConsumedConcurrently: z.number().int().min(1).max(256).default(1),
    sessionTimeoutMs: z.number().int().min(6000).max(300000).default(30000),
    /**
     * How long the broker holds a fetch that finds no new records (librdkafka's fetch.wait.max.ms,
     * also 500). Stopping and rebalancing wait for the fetch in flight; kafkajs's own 5000 made
     * every stop take 5 s.
     */
    fetchMaxWaitMs: z.number().int().min(10).max(60000).default(500),
  })
  .strict();

const WORKERS = "must be 'auto' or a whole number from 0 to 32";

/**
 * Hybrid mode: this deployment runs ingestion and transformation only, and hands each record to a
 * Kafka topic as a JSON object of its fields, exactly once (a Kafka transaction per round, with the
 * consumed offsets in it). A second deployment reads that topic (format json) and runs extraction
 * and storage.
 */
const forwardSchema = z
  .object({
    topic: z.string().min(1),
    /**
     * The producer's transactional id: stable per instance and unique across instances. A restart
     * with the same id aborts what the previous process left open at once; with another id, readers
     * of the topic wait for the broker's transaction timeout. Default: <groupId>-forward-<hostname>.
     */
    transactionalId: z.string().min(1).optional(),
  })
  .strict();

export const pipelineSchema = z
  .object({
    kafka: kafkaSchema,
    sources: z.array(sourceSchema).min(1, 'must declare at least one source'),
    /** The ClickHouse database and the table records are stored in (or `forward`); sources may name their own. */
    output: outputSchema.optional(),
    /** Hybrid mode: hand transformed records to a topic instead of storing them (or `output`). */
    forward: forwardSchema.optional(),
    /** Windowed per-entity features, one table each (beside output.table). */
    features: z.array(featureSetSchema).default([]),
    /**
     * Dead letters of every table go to deadLetters.table (default `<output.table>_dead_letters`, or
     * `dead_letters` when output has no table); with a topic, also to Kafka.
     */
    deadLetters: z
      .object({ topic: z.string().min(1).optional(), table: identifier.optional() })
      .strict()
      .default({}),
    storage: storageSchema.default(storageSchema.parse({})),
    /**
     * Worker threads for the per-record work (decode, transform, extract, encode rows); 0 runs it on
     * the main thread. `auto`: one per core beyond the first, at most 4.
     */
    workers: z
      .union([z.literal('auto'), z.number().int(WORKERS).min(0, WORKERS).max(32, WORKERS)], {
        error: WORKERS,
      })
      .default('auto'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    /** Observability endpoints: /metrics, /health/live, /health/ready. */
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .strict()
      .default({ enabled: true, host: '0.0.0.0', port: 8080 }),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.output === !p.forward)
      ctx.addIssue({
        code: 'custom',
        message: 'set exactly one of output (a ClickHouse table) and forward (a Kafka topic: hybrid mode)',
      });
    if (p.forward && p.features.length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['features'],
        message:
          'belong to the deployment that reads forward.topic: with forward, this one ends after transformation',
      });
    const fwd = p.forward?.topic;
    if (
      fwd &&
      p.sources.some((src) => {
        if (src.topics?.includes(fwd)) return true;
        try {
          return src.topicPattern !== undefined && new RegExp(src.topicPattern).test(fwd);
        } catch {
          return false; // reported at the source
        }
      })
    )
      ctx.addIssue({
        code: 'custom',
        path: ['forward', 'topic'],
        message: `${fwd} is also a source of this deployment: its records would come back to it`,
      });
    if (p.forward && !p.deadLetters.topic)
      ctx.addIssue({
        code: 'custom',
        path: ['deadLetters', 'topic'],
        message: 'is required with forward: without a ClickHouse table, dead letters go to a topic',
      });
    if (p.forward && p.deadLetters.table)
      ctx.addIssue({
        code: 'custom',
        path: ['deadLetters', 'table'],
        message: 'only with output: with forward, dead letters go to deadLetters.topic',
      });
    p.sources.forEach((s, i) => {
      if (p.forward && s.output)
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'output'],
          message: 'not with forward: this deployment stores nothing in ClickHouse',
        });
      if (p.output && !s.output && p.output.table === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['sources', i, 'output'],
          message:
            'is required: output has no table for the records of this source (set output.table and output.columns, or this)',
        });
    });
    if (p.output) tableNameClashes(p, ctx);
  });

export type PipelineConfigInput = z.input<typeof pipelineSchema>;
export type PipelineConfig = z.output<typeof pipelineSchema> & {
  /** Folder that relative paths in the file (schemas, lookups, custom transforms) resolve against. */
  readonly baseDir: string;
};
export type OutputConfig = NonNullable<PipelineConfig['output']>;
export type ColumnConfig = z.output<typeof columnSchema>;
export type ForwardConfig = NonNullable<PipelineConfig['forward']>;
export type KafkaConfig = PipelineConfig['kafka'];
export type StorageConfig = PipelineConfig['storage'];
