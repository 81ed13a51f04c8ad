import type { ClickHouseClient } from '@clickhouse/client';
import { ExponentialBackoff, handleWhen, retry, type RetryPolicy } from 'cockatiel';
import type { ColumnConfig } from '../config/index.js';
import {
  describePosition,
  laneId,
  type Batch,
  type Health,
  type Lifecycle,
  type Logger,
  type OutputRow,
  type RejectedRecord,
  type Telemetry,
} from '../core/index.js';
import { detectCapabilities, type Capabilities } from './capabilities.js';
import { classifyClickHouseError } from './classify.js';
import { createClickHouseClient, describeTarget, type ClientConfig } from './client.js';
import { createDeadLetterTopic, type DeadLetterTopicConfig } from './deadLetterTopic.js';
import { toDeadLetterRow, toInsertRow } from './rows.js';
import { bootstrapTable, deadLetterTableSpec, outputTableSpec, type TableSpec } from './schema.js';

export interface ClickHouseSinkConfig {
  readonly client: ClientConfig;
  readonly database: string;
  readonly table: string;
  readonly columns: readonly ColumnConfig[];
  /** Attempts per insert for retryable errors before the batch fails back to its lane. */
  readonly maxAttempts?: number;
  /** Also send dead letters to this Kafka topic. */
  readonly deadLetterTopic?: DeadLetterTopicConfig | undefined;
}

export interface ClickHouseSink extends Lifecycle {
  /** Store a batch's rows and dead-letter its rejected records; resolves when all of them are stored. */
  write(batch: Batch<OutputRow>): Promise<void>;
  capabilities(): Capabilities | undefined;
}

export function createClickHouseSink(
  config: ClickHouseSinkConfig,
  deps: { logger: Logger; telemetry: Telemetry },
): ClickHouseSink {
  const { logger, telemetry } = deps;
  const output = outputTableSpec(config.database, config.table, config.columns);
  const deadLetters = deadLetterTableSpec(config.database, config.table);
  let client: ClickHouseClient | undefined;
  let caps: Capabilities | undefined;
  let lastWriteOk = false;
  const dlqTopic = config.deadLetterTopic
    ? createDeadLetterTopic(config.deadLetterTopic, { logger })
    : undefined;

  const policy: RetryPolicy = retry(
    handleWhen((err) => classifyClickHouseError(err).kind === 'retryable'),
    {
      maxAttempts: config.maxAttempts ?? 8,
      backoff: new ExponentialBackoff({ initialDelay: 200, maxDelay: 10_000 }),
    },
  );
  policy.onRetry((e) => {
    const reason = 'error' in e ? e.error.message : 'result';
    logger.warn({ attempt: e.attempt, delayMs: e.delay, reason }, 'insert failed, retrying');
  });

  async function insert(spec: TableSpec, values: Record<string, unknown>[]): Promise<void> {
    await policy.execute(() =>
      client!.insert({ table: `${spec.database}.${spec.table}`, values, format: 'JSONEachRow' }),
    );
  }

  /**
   * Insert rows; when ClickHouse rejects them as bad data, split the batch in halves until the bad rows
   * are isolated, store the rest, and return the bad rows as rejected with ClickHouse's reason.
   */
  async function insertIsolatingPoison(rows: readonly OutputRow[]): Promise<RejectedRecord[]> {
    if (rows.length === 0) return [];
    try {
      await insert(output, rows.map(toInsertRow));
      return [];
    } catch (err) {
      const e = classifyClickHouseError(err);
      if (e.kind !== 'poison') throw e;
      if (rows.length === 1) {
        logger.warn(
          { position: describePosition(rows[0]!.source), reason: e.message },
          'row rejected by ClickHouse',
        );
        return [{ source: rows[0]!.source, stage: 'storage', reason: e.message }];
      }
      const mid = rows.length >>> 1;
      return [
        ...(await insertIsolatingPoison(rows.slice(0, mid))),
        ...(await insertIsolatingPoison(rows.slice(mid))),
      ];
    }
  }

  return {
    capabilities: () => caps,

    async start() {
      client = createClickHouseClient(config.client, logger);
      try {
        caps = await detectCapabilities(client);
        await bootstrapTable(client, output);
        await bootstrapTable(client, deadLetters);
      } catch (err) {
        const e = classifyClickHouseError(err);
        throw e.kind === 'retryable'
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
          table: `${output.database}.${output.table}`,
        },
        'clickhouse sink started',
      );
    },

    async write(batch) {
      const started = performance.now();
      try {
        const poisoned = await insertIsolatingPoison(batch.records);
        const rejected = [...batch.rejected, ...poisoned];
        if (rejected.length > 0) {
          await Promise.all([insert(deadLetters, rejected.map(toDeadLetterRow)), dlqTopic?.send(rejected)]);
        }
        lastWriteOk = true;
        telemetry.recordsIn.inc({ module: 'storage' }, batch.records.length);
        telemetry.recordsOut.inc({ module: 'storage' }, batch.records.length - poisoned.length);
        telemetry.recordsRejected.inc({ module: 'storage' }, poisoned.length);
        telemetry.batchSeconds.observe({ module: 'storage' }, (performance.now() - started) / 1000);
        logger.debug(
          {
            lane: laneId(batch.lane),
            stored: batch.records.length - poisoned.length,
            deadLettered: rejected.length,
          },
          'batch stored',
        );
      } catch (err) {
        lastWriteOk = false;
        throw classifyClickHouseError(err);
      }
    },

    async stop() {
      await dlqTopic?.stop();
      await client?.close();
      client = undefined;
    },

    health(): Health {
      return { live: true, ready: client !== undefined && lastWriteOk, detail: { version: caps?.version } };
    },
  };
}
