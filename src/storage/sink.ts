import type { ClickHouseClient } from '@clickhouse/client';
import type { FeatureSetConfig, OutputTable } from '../config/index.js';
import type { Batch, Health, Lifecycle, Logger, OutputRow, SourceRecord, Telemetry } from '../core/index.js';
import { createBatchingWriter, type BatchingConfig, type BufferStats } from './batchingWriter.js';
import {
  defaultInsertSettings,
  defaultTableSettings,
  detectCapabilities,
  type Capabilities,
} from './capabilities.js';
import { classifyClickHouseError, clickhouseCode } from './classify.js';
import {
  createClickHouseClient,
  describeTarget,
  rowBinaryInserter,
  type ClientConfig,
  type InsertRowBinary,
} from './client.js';
import { createDeadLetterTopic, type DeadLetterTopicConfig } from './deadLetterTopic.js';
import { gatherChunk } from './chunk.js';
import { batchEncoder, type BinaryRows, type EncodedBatch } from './encode.js';
import { featureTableSpec, mergedViewSql } from './featureTables.js';
import { unknownSettings, unsupportedColumns } from './engineChecks.js';
import { insertIsolatingPoison } from './poison.js';
import { createResilience, type CircuitName, type ResilienceConfig } from './resilience.js';
import { toDeadLetterRow } from './rows.js';
import { bootstrapTable, deadLetterTableSpec, outputTableSpec, type TableSpec } from './schema.js';

export interface ClickHouseSinkConfig {
  readonly client: ClientConfig;
  readonly database: string;
  /** The tables rows are stored in; a batch's rows go to `outputs[tableFor(its topic)]`. */
  readonly outputs: readonly OutputTable[];
  /** Which output a topic's rows go to (default: the first). */
  readonly tableFor?: (topic: string) => number;
  /** Dead letters of every output go to this table. */
  readonly deadLetterTable: string;
  /** Add declared columns an existing output table lacks, instead of refusing it. */
  readonly addColumns?: boolean;
  /** ClickHouse settings for every insert (`storage.insertSettings`). */
  readonly insertSettings?: Readonly<Record<string, string | number | boolean>>;
  readonly featureSets?: readonly FeatureSetConfig[];
  readonly batching: BatchingConfig;
  readonly resilience: ResilienceConfig;
  /** Also send dead letters to this Kafka topic. */
  readonly deadLetterTopic?: DeadLetterTopicConfig | undefined;
}

export interface ClickHouseSink extends Lifecycle {
  /** Take a batch into the bounded buffer (waits while it is full); its ack resolves once stored. */
  accept(batch: Batch<OutputRow>): Promise<void>;
  /** The same for a batch already encoded (by `batchEncoder`, e.g. in a worker thread). */
  acceptEncoded(batch: EncodedBatch): Promise<void>;
  /** Flush all buffered batches and wait until they are stored. */
  drain(): Promise<void>;
  /** The source has read all there is for now: what waits goes as at a pause (BatchingWriter.caughtUp). */
  caughtUp(): void;
  capabilities(): Capabilities | undefined;
  buffer(): BufferStats;
  circuit(): CircuitName;
  onCircuit(listener: (state: CircuitName) => void): void;
}

export function createClickHouseSink(
  config: ClickHouseSinkConfig,
  deps: { logger: Logger; telemetry: Telemetry },
): ClickHouseSink {
  const { logger, telemetry } = deps;
  const outputs = config.outputs.map((o) => outputTableSpec(config.database, o.table, o.columns));
  const tableFor = config.tableFor ?? (() => 0);
  // Booleans as 1 and 0, which every version reads (18.16 takes no true or false).
  const insertSettings = {
    ...Object.fromEntries(
      Object.entries(config.insertSettings ?? {}).map(([k, v]) => [
        k,
        typeof v === 'boolean' ? Number(v) : v,
      ]),
    ),
  };
  const deadLetters = deadLetterTableSpec(config.database, config.deadLetterTable);
  const tables = { outputs: config.outputs, tableFor };
  const encode = batchEncoder(config.featureSets ?? [], tables);
  const featureTables = new Map(
    (config.featureSets ?? []).map((fs) => [fs.name, featureTableSpec(config.database, fs)]),
  );
  const dlqTopic = config.deadLetterTopic
    ? createDeadLetterTopic(config.deadLetterTopic, { logger })
    : undefined;
  const resilience = createResilience(config.resilience, logger);
  resilience.onRetry(() => telemetry.retries.inc({ module: 'storage' }));
  const abort = new AbortController();
  let client: ClickHouseClient | undefined;
  let insertRowBinary: InsertRowBinary | undefined;
  let caps: Capabilities | undefined;
  let lastWriteOk = false;

  /** Every insert's settings: the engine's defaults for the pipeline (defaultInsertSettings), then the user's. */
  let baseSettings: Readonly<Record<string, string | number>> = insertSettings;
  const settingsWith = (token: string | undefined) =>
    // Same chunk, same token: a retry after a lost response is not stored twice (22.2+).
    token && caps?.insertDeduplicationToken
      ? { ...baseSettings, insert_deduplication_token: token }
      : baseSettings;

  /** Dead letters: objects, as JSONEachRow. */
  async function insertDeadLetters(values: readonly unknown[], token: string) {
    const table = `${deadLetters.database}.${deadLetters.table}`;
    await resilience.policy.execute(
      ({ signal }) =>
        client!.insert({
          table,
          values,
          format: 'JSONEachRow',
          abort_signal: signal,
          clickhouse_settings: settingsWith(token),
        }),
      abort.signal,
    );
    telemetry.inserts.inc({ table });
  }

  /** Encoded rows. */
  async function insertRows(spec: TableSpec, blocks: readonly BinaryRows[], token: string) {
    const table = `${spec.database}.${spec.table}`;
    await resilience.policy.execute(
      ({ signal }) =>
        insertRowBinary!({
          table,
          columns: spec.columns,
          blocks: blocks.map((b) => b.bytes),
          clickhouse_settings: settingsWith(token),
          abort_signal: signal,
        }),
      abort.signal,
    );
    telemetry.inserts.inc({ table });
  }

  /** The event-to-stored latency of every 4th row: percentiles of a sample, at a quarter of the cost. */
  function observeLatency(sources: readonly SourceRecord[], stored: number) {
    for (let i = 0; i < sources.length; i += 4)
      telemetry.eventToStoredSeconds.observe((stored - sources[i]!.timestamp) / 1000);
  }

  async function write(batches: readonly EncodedBatch[]): Promise<void> {
    const started = performance.now();
    const { byTable, rejected, refused, features, token, sources } = gatherChunk(
      batches,
      outputs.length,
      tableFor,
    );
    try {
      // Output tables are independent of each other: inserted side by side. The first keeps the
      // chunk's token as it was before sources could name their own tables.
      const poisoned = (
        await Promise.all(
          byTable.map((t, i) =>
            insertIsolatingPoison(
              (blocks, tk) => insertRows(outputs[i]!, blocks, tk),
              t.blocks,
              t.sources,
              i === 0 ? token : `${token}/t/${outputs[i]!.table}`,
              logger,
            ),
          ),
        )
      ).flat();
      const dead = poisoned.length === 0 ? rejected : [...rejected, ...poisoned];
      if (dead.length > 0) {
        await Promise.all([
          insertDeadLetters(dead.map(toDeadLetterRow), `${token}/dlq`),
          dlqTopic?.send(dead),
        ]);
      }
      // Feature tables are independent of each other: insert them side by side.
      await Promise.all(
        [...features].map(([name, f]) =>
          insertRows(featureTables.get(name)!, f.blocks, `${token}/f/${name}`),
        ),
      );
      lastWriteOk = true;
      telemetry.recordsIn.inc({ module: 'storage' }, sources.length + refused);
      telemetry.recordsOut.inc({ module: 'storage' }, sources.length - poisoned.length);
      telemetry.recordsRejected.inc({ module: 'storage' }, poisoned.length + refused);
      telemetry.deadLettered.inc(dead.length);
      for (const [name, f] of features) telemetry.featureRows.inc({ feature_set: name }, f.rows);
      telemetry.batchSeconds.observe({ module: 'storage' }, (performance.now() - started) / 1000);
      observeLatency(sources, Date.now());
      logger.debug(
        { batches: batches.length, stored: sources.length - poisoned.length, deadLettered: dead.length },
        'chunk stored',
      );
    } catch (err) {
      lastWriteOk = false;
      throw classifyClickHouseError(err);
    }
  }

  const writer = createBatchingWriter(config.batching, write);

  function acceptEncoded(batch: EncodedBatch): Promise<void> {
    let bytes = 0;
    for (const s of batch.sources) bytes += s.value?.length ?? 0;
    for (const r of batch.rejected) bytes += r.source.value?.length ?? 0;
    return writer.accept(batch, batch.sources.length + batch.rejected.length, bytes);
  }
  resilience.onCircuit((s) => {
    if (s !== 'closed') lastWriteOk = false;
  });

  return {
    accept: (batch) => acceptEncoded(encode(batch)),
    acceptEncoded,
    drain: () => writer.drain(),
    caughtUp: () => writer.caughtUp(),
    capabilities: () => caps,
    buffer: () => writer.stats(),
    circuit: () => resilience.circuit(),
    onCircuit: (l) => resilience.onCircuit(l),

    async start() {
      client = await createClickHouseClient(config.client, logger);
      try {
        caps = await detectCapabilities(client);
        insertRowBinary = rowBinaryInserter(client, config.client);
        baseSettings = { ...defaultInsertSettings(caps), ...insertSettings };
        await unknownSettings(
          client,
          Object.keys(config.insertSettings ?? {}),
          caps,
          describeTarget(config.client),
        );
        unsupportedColumns(
          config.outputs.flatMap((o) => o.columns),
          caps,
          describeTarget(config.client),
        );
        const settings = defaultTableSettings(caps, !config.client.url);
        const added = config.addColumns
          ? (table: string) => (c: { name: string; type: string }) =>
              logger.info({ table, column: c.name, type: c.type }, 'added a column to the output table')
          : undefined;
        for (const output of outputs) {
          const table = `${output.database}.${output.table}`;
          await bootstrapTable(client, output, settings, caps.createSettings, added?.(table));
        }
        await bootstrapTable(client, deadLetters, settings);
        for (const fs of config.featureSets ?? []) {
          await bootstrapTable(client, featureTables.get(fs.name)!, settings);
          const view = mergedViewSql(config.database, fs);
          if (view) await client.command({ query: view });
        }
      } catch (err) {
        const e = classifyClickHouseError(err);
        // "cannot reach" only when the server never answered (no ClickHouse error code).
        throw e.kind === 'retryable' && clickhouseCode(err) === undefined
          ? Object.assign(e, {
              message: `cannot reach ClickHouse (${describeTarget(config.client)}): ${e.message}`,
            })
          : e;
      }
      await dlqTopic?.start();
      lastWriteOk = true;
      logger.info(
        {
          target: describeTarget(config.client),
          version: caps.version,
          tables: outputs.map((o) => `${o.database}.${o.table}`),
          insertDeduplicationToken: caps.insertDeduplicationToken,
        },
        'clickhouse sink started',
      );
    },

    async stop() {
      // Whatever is still retrying when the pipeline's deadline passed is abandoned, uncommitted.
      abort.abort();
      writer.close();
      await dlqTopic?.stop();
      await client?.close();
      client = undefined;
    },

    health(): Health {
      const circuit = resilience.circuit();
      return {
        live: true,
        ready: client !== undefined && lastWriteOk && circuit === 'closed',
        detail: { version: caps?.version, circuit, buffer: writer.stats() },
      };
    },
  };
}
