import type { Subscription } from 'rxjs';
import { mergeMap } from 'rxjs';
import { outputPlan, type PipelineConfig } from '../config/index.js';
import {
  createTelemetry,
  errorMessage,
  beforeDeadline,
  type Health,
  type Lifecycle,
  type Logger,
  type Telemetry,
} from '../core/index.js';
import type { WindowCounts } from '../extraction/index.js';
import { createKafkaSource, type KafkaSource } from '../ingestion/index.js';
import { createClickHouseSink, createForwardSink, type ClickHouseSink } from '../storage/index.js';
import { registerGauges } from './gauges.js';
import { createLaneWorkers, resolveWorkers, type LaneWorkers } from './laneWorkers.js';
import { currentThreadId, registerThreadCpu } from './threadCpu.js';
import { forwardStages, prepareStages, recordStages } from './prepare.js';

/** What the pipeline needs of its sink: ClickHouse, or in hybrid mode a Kafka topic. */
export type PipelineSink = Pick<
  ClickHouseSink,
  'start' | 'stop' | 'health' | 'drain' | 'buffer' | 'circuit' | 'onCircuit'
>;

export interface Pipeline extends Lifecycle {
  readonly source: KafkaSource;
  readonly sink: PipelineSink;
  readonly telemetry: Telemetry;
}

export interface PipelineDeps {
  readonly logger: Logger;
  /** Told once when a fatal error (bad table, authentication, ...) means the process must stop. */
  readonly onFatal?: (err: unknown) => void;
}

/**
 * Ticks for quiet lanes: often enough that windows close soon after their idle timeout, and that
 * closed fixed windows still waiting to leave (a share leaves per batch) leave within a second.
 */
export function idleTickMs(config: PipelineConfig): number | undefined {
  const timeouts = config.features.flatMap((fs) => (fs.idleTimeout === null ? [] : [fs.idleTimeout]));
  const idle = timeouts.length > 0 ? Math.max(200, Math.min(...timeouts) / 2) : Infinity;
  const closing = config.features.some((fs) => fs.window.type !== 'session') ? 1000 : Infinity;
  const every = Math.min(idle, closing);
  return Number.isFinite(every) ? Math.min(5000, every) : undefined;
}

/**
 * Wires the four modules into one RxJS chain:
 * kafkaSource -> decodeJson -> transform -> extractFeatures -> clickhouseSink, acknowledging each batch
 * back to its lane once stored. Starts storage before the source and stops them in reverse.
 */
export function createPipeline(config: PipelineConfig, deps: PipelineDeps): Pipeline {
  const { logger } = deps;
  const telemetry = createTelemetry();
  let fatalSeen = false;
  const onFatal = (err: unknown) => {
    if (fatalSeen) return;
    fatalSeen = true;
    logger.fatal({ err: errorMessage(err) }, 'fatal error, stopping');
    deps.onFatal?.(err);
  };

  const storageDeps = { logger: logger.child({ module: 'storage' }), telemetry };
  const forward = config.forward
    ? createForwardSink(
        {
          kafka: config.kafka,
          baseDir: config.baseDir,
          topic: config.forward.topic,
          transactionalId: config.forward.transactionalId,
          deadLetterTopic: config.deadLetters.topic!,
          bufferRows: config.storage.bufferRows,
        },
        { ...storageDeps, onFatal },
      )
    : undefined;
  const output = outputPlan(config);
  const clickhouse = output
    ? createClickHouseSink(
        {
          client: { ...config.storage, baseDir: config.baseDir },
          database: output.database,
          outputs: output.tables,
          tableFor: (topic) => output.tableOf(topic) ?? 0,
          deadLetterTable: output.deadLetterTable,
          addColumns: output.addColumns,
          insertSettings: config.storage.insertSettings,
          featureSets: config.features,
          batching: config.storage,
          resilience: config.storage,
          deadLetterTopic: config.deadLetters.topic
            ? { ...config.kafka, baseDir: config.baseDir, topic: config.deadLetters.topic }
            : undefined,
        },
        storageDeps,
      )
    : undefined;
  const sink: PipelineSink = (forward ?? clickhouse)!;
  const source = createKafkaSource(
    {
      ...config.kafka,
      baseDir: config.baseDir,
      topics: config.sources.flatMap((s) => s.topics ?? []),
      topicPatterns: config.sources.flatMap((s) => (s.topicPattern ? [s.topicPattern] : [])),
      idleTickMs: idleTickMs(config),
    },
    {
      logger: logger.child({ module: 'ingestion' }),
      onFatal,
      offsetCommits: telemetry.offsetCommits,
    },
  );
  let subscription: Subscription | undefined;
  const openWindows = new Map<string, WindowCounts>();
  registerGauges(telemetry.registry, { source, sink, openWindows, groupId: config.kafka.groupId });
  // Hybrid mode runs its two stages on the main thread: the worker threads encode ClickHouse rows.
  const threads = forward ? 0 : resolveWorkers(config.workers);
  let workers: LaneWorkers | undefined;
  const mainThread = currentThreadId();
  registerThreadCpu(telemetry.registry, () => [
    ...(mainThread === undefined ? [] : [['main', mainThread] as const]),
    ...(workers?.threadIds() ?? []).map((tid, i) => [`lane-worker-${i}`, tid] as const),
  ]);

  return {
    source,
    sink,
    telemetry,

    async start() {
      // Files and expressions first: a config mistake stops start-up before anything connects.
      const stages = await prepareStages(config);
      await sink.start();
      // An open circuit pauses consumption instead of piling up fetches; closing it resumes.
      sink.onCircuit((state) =>
        state === 'open' ? source.pause() : state === 'closed' ? source.resume() : undefined,
      );
      // The end of a backlog is stored at once, not after storage's quiet wait for a pause.
      if (clickhouse) source.onCaughtUp(() => clickhouse.caughtUp());
      // A lane hands over a batch and waits until storage accepted it, so the chain holds at most
      // partitionsConsumedConcurrently batches besides storage's buffer, whose size is configured.
      if (forward) {
        subscription = source.batches$
          .pipe(
            forwardStages(stages, telemetry),
            mergeMap((batch) => forward.accept(batch).catch((err: unknown) => batch.ack.reject(err))),
          )
          .subscribe({ error: onFatal });
      } else if (threads > 0) {
        const ch = clickhouse!;
        workers = createLaneWorkers(config, threads, {
          telemetry,
          logger: logger.child({ module: 'pipeline' }),
          openWindows,
          onFatal,
        });
        await workers.start();
        const w = workers;
        source.onGeneration((g) => w.generation(g));
        // The same chain, with its per-record part on the lane's worker thread.
        subscription = source.batches$
          .pipe(
            mergeMap((batch) =>
              w
                .process(batch)
                .then((encoded) => ch.acceptEncoded(encoded))
                .catch((err: unknown) => batch.ack.reject(err)),
            ),
          )
          .subscribe({ error: onFatal });
      } else {
        subscription = source.batches$
          .pipe(
            recordStages(config, stages, telemetry, openWindows, (l) => source.onGeneration(l)),
            // Storage takes the batch into its bounded buffer; the lane waits for that (backpressure).
            mergeMap((batch) => clickhouse!.accept(batch).catch((err: unknown) => batch.ack.reject(err))),
          )
          .subscribe({ error: onFatal });
      }
      await source.start();
    },

    async stop(deadline: number) {
      try {
        // Stop fetching, store what was handed out, commit it, then leave the group.
        await beforeDeadline(
          source.drain(() => sink.drain()),
          deadline,
          forward ? `draining batches into ${config.forward!.topic}` : 'draining batches into ClickHouse',
        );
        await source.stop(deadline);
      } finally {
        subscription?.unsubscribe();
        await workers?.stop();
        await sink.stop(deadline);
      }
    },

    health(): Health {
      const s = source.health();
      const k = sink.health();
      return {
        live: s.live && k.live && !fatalSeen,
        ready: s.ready && k.ready,
        detail: { ingestion: s.detail, storage: k.detail },
      };
    },
  };
}
