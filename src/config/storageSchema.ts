import { z } from 'zod';

/** Why an insert setting is refused, if it is: each would break a promise the service makes. */
function refusedInsertSetting(name: string, value: string | number | boolean): string | undefined {
  if (!/^[a-z][a-z0-9_]*$/.test(name))
    return 'must be a ClickHouse setting name (lower-case letters, digits and _)';
  if (name === 'insert_deduplication_token')
    return 'is set by the service, from the source positions of each insert';
  const off = value === 0 || value === false || value === '0';
  if ((name === 'input_format_allow_errors_num' || name === 'input_format_allow_errors_ratio') && !off)
    return 'would let ClickHouse skip bad rows silently; the service dead-letters them with the reason';
  if (name === 'wait_for_async_insert' && off)
    return 'would acknowledge inserts before they are stored, and offsets would be committed for records a crash can lose';
  return undefined;
}

export const storageSchema = z
  .object({
    /** A ClickHouse server (HTTP). Without it the embedded engine (chDB) stores into `path`. */
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
    path: z.string().min(1).default('.data/chdb'),
    username: z.string().default('default'),
    password: z.string().default(''),
    /** TLS to a server with a private CA: PEM files, relative to the pipeline file. */
    tls: z
      .object({
        ca: z.string().min(1),
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** for an encrypted `key` */
        passphrase: z.string().optional(),
      })
      .strict()
      .superRefine((tls, ctx) => {
        if (!tls.cert !== !tls.key)
          ctx.addIssue({
            code: 'custom',
            message: 'set both cert and key (a client certificate), or neither',
          });
        if (tls.passphrase !== undefined && !tls.key)
          ctx.addIssue({ code: 'custom', path: ['passphrase'], message: 'only with an encrypted key' });
      })
      .optional(),
    requestTimeoutMs: z.number().int().min(1000).max(600000).default(30000),
    /**
     * An insert is sent when this many rows wait ... The default is ClickHouse's own block size
     * (max_block_size, 65,536 on the 18.16 server): fewer, larger parts cost the server less to
     * write and merge (README, Delivery).
     */
    batchRows: z.number().int().min(1).max(10_000_000).default(65_536),
    /** ... or this many bytes of Kafka values ... */
    batchBytes: z
      .number()
      .int()
      .min(1024)
      .default(16 * 1024 * 1024),
    /** ... or when the oldest waiting record is this old (ClickHouse likes about one insert a second). */
    flushIntervalMs: z.number().int().min(10).max(600000).default(1000),
    /**
     * ... or when no batch has come for this long (the end of a backlog or a burst); 0: never, only
     * by the rules above.
     */
    quietFlushMs: z.number().int().min(0).max(600000).default(100),
    /** Lanes wait while this many rows / bytes are buffered or being inserted: the memory bound. */
    bufferRows: z.number().int().min(1).default(200000),
    bufferBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024 * 1024),
    insertsInFlight: z.number().int().min(1).max(64).default(2),
    retryInitialDelayMs: z.number().int().min(1).default(200),
    retryMaxDelayMs: z.number().int().min(1).default(5000),
    /** Consecutive failed attempts that open the circuit (consumption pauses). */
    breakerFailures: z.number().int().min(1).default(5),
    /** How long the open circuit waits before letting one probe through. */
    breakerHalfOpenMs: z.number().int().min(100).default(5000),
    /**
     * ClickHouse settings sent with every insert (insert_quorum, insert_distributed_sync, ...);
     * start-up checks that the engine knows each. Settings that would drop rows silently are refused.
     */
    insertSettings: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .default({})
      .superRefine((settings, ctx) => {
        for (const [name, value] of Object.entries(settings)) {
          const why = refusedInsertSetting(name, value);
          if (why) ctx.addIssue({ code: 'custom', path: [name], message: why });
        }
      }),
  })
  .strict()
  .superRefine((storage, ctx) => {
    if (storage.tls && !storage.url?.startsWith('https://'))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'needs an https:// storage.url' });
  });
