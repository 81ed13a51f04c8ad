import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseSettings,
} from '@clickhouse/client';
import { checkTlsFiles, readConfigFiles, type Logger } from '../core/index.js';

export interface ClientConfig {
  /** A ClickHouse server (HTTP); without it, the embedded engine (chDB) stores into `path`. */
  readonly url?: string | undefined;
  readonly path: string;
  readonly username: string;
  readonly password: string;
  readonly requestTimeoutMs: number;
  /** TLS to a server with a private CA (PEM files, relative to `baseDir`). */
  readonly tls?:
    | {
        readonly ca: string;
        readonly cert?: string | undefined;
        readonly key?: string | undefined;
        readonly passphrase?: string | undefined;
      }
    | undefined;
  /** Where relative paths start: the pipeline file's folder (default: the working directory). */
  readonly baseDir?: string | undefined;
}

/** The TLS files of a server store, read (a missing one is a ConfigError naming its key). */
export function storageTls(config: ClientConfig) {
  if (!config.tls) return undefined;
  const [ca, cert, key] = readConfigFiles(config.baseDir ?? process.cwd(), [
    ['storage.tls.ca', config.tls.ca],
    ['storage.tls.cert', config.tls.cert],
    ['storage.tls.key', config.tls.key],
  ]);
  const checked = checkTlsFiles({
    ca: ['storage.tls.ca', ca!],
    cert: cert && ['storage.tls.cert', cert],
    key: key && ['storage.tls.key', key],
    passphrase: ['storage.tls.passphrase', config.tls.passphrase],
  });
  if (!cert || !checked.key) return { ca_cert: ca! };
  // @clickhouse/client takes no passphrase: an encrypted key is handed over decrypted (in memory only).
  const plainKey =
    config.tls.passphrase === undefined
      ? key!
      : Buffer.from(checked.key.export({ type: 'pkcs8', format: 'pem' }) as string);
  return { ca_cert: ca!, cert, key: plainKey };
}

/** Routes @clickhouse/client's own log lines into pino instead of console. */
function clientLoggerClass(logger: Logger) {
  return class {
    trace() {}
    debug() {}
    info() {}
    warn(p: { message: string; args?: Record<string, unknown>; err?: Error }) {
      logger.debug({ args: p.args, err: p.err?.message }, `clickhouse client: ${p.message}`);
    }
    error(p: { message: string; args?: Record<string, unknown>; err: Error }) {
      // The caller sees and classifies the error; this is only a breadcrumb.
      logger.debug({ args: p.args, err: p.err.message }, `clickhouse client: ${p.message}`);
    }
  };
}

/**
 * One code path above the connection: the same client API for a server URL or the embedded engine.
 * chDB is imported only when used: loading its engine costs about 150 MiB of resident memory.
 */
export async function createClickHouseClient(
  config: ClientConfig,
  logger: Logger,
): Promise<ClickHouseClient> {
  const log = { LoggerClass: clientLoggerClass(logger), level: ClickHouseLogLevel.WARN };
  // Rows may come already encoded as JSON lines (the sink encodes when it takes a batch).
  const json = { stringify: (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)) };
  if (config.url) {
    const tls = storageTls(config);
    return createClient({
      url: config.url,
      ...(tls ? { tls } : {}),
      username: config.username,
      password: config.password,
      request_timeout: config.requestTimeoutMs,
      log,
      json,
    });
  }
  const path = resolve(config.path);
  mkdirSync(path, { recursive: true });
  // chdb types its Connection against @clickhouse/client-common while the client bundles its own copy
  // of the same interface; the shapes match at run time (chdb's parity tests), only the type identities differ.
  const { createChdbConnection } = await import('chdb/connection');
  const connection = createChdbConnection({ path }) as unknown as NonNullable<
    Parameters<typeof createClient>[0]
  >['connection'];
  return createClient({ connection, log, json });
}

export function describeTarget(config: ClientConfig): string {
  return config.url ? `server ${config.url}` : `embedded chDB at ${resolve(config.path)}`;
}

/**
 * Inserts RowBinary blocks into `table` (named columns, in the blocks' order). Through `exec`: the
 * client's `insert` takes text formats only. Resolves once the server answered the insert.
 */
export async function insertRowBinary(
  client: ClickHouseClient,
  params: {
    table: string;
    columns: readonly string[];
    blocks: readonly Uint8Array[];
    clickhouse_settings?: ClickHouseSettings;
    abort_signal?: AbortSignal;
  },
): Promise<void> {
  const result = await client.exec({
    query: `INSERT INTO ${params.table} (${params.columns.join(', ')}) FORMAT RowBinary`,
    values: Readable.from(
      params.blocks.map((b) => Buffer.from(b.buffer, b.byteOffset, b.length)),
      { objectMode: false },
    ),
    ...(params.clickhouse_settings ? { clickhouse_settings: params.clickhouse_settings } : {}),
    ...(params.abort_signal ? { abort_signal: params.abort_signal } : {}),
  });
  await finished(result.stream.resume());
}
