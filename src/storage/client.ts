import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import {
  ClickHouseLogLevel,
  createClient,
  type ClickHouseClient,
  type ClickHouseSettings,
} from '@clickhouse/client';
import { checkTlsFiles, readConfigFiles, type Logger } from '../core/index.js';
import { releaseLibraryPages } from './libraryPages.js';

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
 * Server settings for the embedded engine, which only its start takes. ClickHouse keeps up to 1,000
 * idle threads of its global pool for reuse; in a pipeline at 100,000 records/s the engine started
 * about 130 at once after half a minute and kept them all, idle. With 8 kept, the highest resident
 * memory of 35 s at that rate was lower in 4 of 4 alternated runs (630-644 against 632-681 MiB), and
 * the pipeline's CPU a record the same (three alternated catch-ups of 800,000 records).
 */
export const CHDB_ENGINE_ARGS = ['--max_thread_pool_free_size=8'];

/**
 * One code path above the connection: the same client API for a server URL or the embedded engine.
 * chDB is imported only when used: loading and starting its engine leaves about 160 MiB of its
 * library resident, which is given back once it has started (`releaseLibraryPages`); what the
 * engine then uses comes back from the file.
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
  const [{ createChdbConnection }, { Session }] = await Promise.all([
    import('chdb/connection'),
    import('chdb'),
  ]);
  // The engine starts with the process's first connection to its data directory and takes its
  // server settings from that one only; chdb/connection passes none. So a session with them opens
  // first and closes once the client's own connection holds the engine. If the engine already runs
  // (another client in this process), it keeps the settings it started with.
  const starter = new Session(path, { connectionArgs: CHDB_ENGINE_ARGS });
  let client: ClickHouseClient;
  try {
    const connection = createChdbConnection({ path }) as unknown as NonNullable<
      Parameters<typeof createClient>[0]
    >['connection'];
    client = createClient({ connection, log, json });
  } finally {
    starter.close();
  }
  const released = await releaseLibraryPages(CHDB_LIBRARY, logger);
  if (released?.mappings)
    logger.info(
      { mappings: released.mappings, residentMiB: Math.round(released.residentMiB) },
      "storage: gave back the pages of chDB's library that its start touched",
    );
  else if (released) logger.debug({ file: CHDB_LIBRARY }, 'storage: no mapping of the library to release');
  return client;
}

/** The file of chDB's engine, loaded with the `chdb` package. */
export const CHDB_LIBRARY = 'libchdb.so';

export function describeTarget(config: ClientConfig): string {
  return config.url ? `server ${config.url}` : `embedded chDB at ${resolve(config.path)}`;
}

export interface RowBinaryInsert {
  readonly table: string;
  /** The blocks' columns, in their order, with their stored types. */
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly blocks: readonly Uint8Array[];
  readonly clickhouse_settings?: ClickHouseSettings;
  readonly abort_signal?: AbortSignal;
}

/** Inserts RowBinary blocks; resolves once the engine has stored them. */
export type InsertRowBinary = (params: RowBinaryInsert) => Promise<void>;

/** A ClickHouse string literal. */
const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** Whether a process of this id runs (signal 0 only checks; EPERM: it runs as someone else). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A folder of this inserter's own under `root` (`<pid>-<random>`: two inserters of one process, as
 * the benchmark makes, never share one). Folders a process left that no longer runs (a crash
 * between writing a file and deleting it) are removed.
 */
function insertFolder(root: string): string {
  mkdirSync(root, { recursive: true });
  for (const name of readdirSync(root)) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !running(pid))
      rmSync(join(root, name), { recursive: true, force: true });
  }
  return mkdtempSync(join(root, `${process.pid}-`));
}

/**
 * How RowBinary reaches the engine. A server takes it as the body of `INSERT ... FORMAT RowBinary`,
 * through `exec` (the client's `insert` takes text formats only). chDB's connection takes text only:
 * its rows go into a file that `INSERT ... SELECT FROM file()` reads, in `user_files/inserts` under
 * the store's path (written and deleted within the insert; see insertFolder for what a crash
 * leaves). chDB takes RowBinary this way with about half the CPU of JSONCompactEachRow lines, the
 * text format it read before, file included; insert_deduplication_token holds for INSERT SELECT too.
 */
export function rowBinaryInserter(
  client: ClickHouseClient,
  config: Pick<ClientConfig, 'url' | 'path'>,
): InsertRowBinary {
  const passed = (p: RowBinaryInsert) => ({
    ...(p.clickhouse_settings ? { clickhouse_settings: p.clickhouse_settings } : {}),
    ...(p.abort_signal ? { abort_signal: p.abort_signal } : {}),
  });
  if (config.url)
    return async (params) => {
      const result = await client.exec({
        query: `INSERT INTO ${params.table} (${params.columns.map((c) => c.name).join(', ')}) FORMAT RowBinary`,
        values: Readable.from(
          params.blocks.map((b) => Buffer.from(b.buffer, b.byteOffset, b.length)),
          { objectMode: false },
        ),
        ...passed(params),
      });
      await finished(result.stream.resume());
    };
  const dir = insertFolder(resolve(config.path, 'user_files', 'inserts'));
  let next = 0;
  return async (params) => {
    const file = join(dir, `${next++}.bin`);
    const names = params.columns.map((c) => c.name).join(', ');
    const structure = params.columns.map((c) => `${c.name} ${c.type}`).join(', ');
    try {
      await writeFile(file, params.blocks);
      await client.command({
        query: `INSERT INTO ${params.table} (${names}) SELECT * FROM file(${sqlString(file)}, 'RowBinary', ${sqlString(structure)})`,
        ...passed(params),
      });
    } finally {
      await rm(file, { force: true });
    }
  };
}
