import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload } from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';
import { Subject, type Observable } from 'rxjs';
import {
  beforeDeadline,
  connectAdmin,
  errorMessage,
  isKind,
  kafkaConnectionOptions,
  laneId,
  type Batch,
  type Health,
  type KafkaAccessConfig,
  type Lifecycle,
  type Logger,
  type SourceRecord,
} from '../core/index.js';
import { registerCompressionCodecs } from './codecs.js';
import { committedReads } from './committedReads.js';
import { createOffsetsRound } from './offsetsRound.js';
import { createIdleTicks } from './idleTicks.js';
import { kafkaLogCreator, sourceRecords } from './kafkaRecords.js';
import { createLaneChain } from './laneChain.js';

export interface KafkaSourceConfig extends KafkaAccessConfig {
  /** Where relative TLS file paths start (the pipeline file's folder). */
  readonly baseDir: string;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Topic name patterns (regular expressions); matching topics are consumed too. */
  readonly topicPatterns: readonly string[];
  readonly startFrom: 'earliest' | 'latest';
  readonly partitionsConsumedConcurrently: number;
  readonly sessionTimeoutMs: number;
  readonly fetchMaxWaitMs: number;
  /**
   * While a caught-up lane gets no records, hand out an empty batch (a tick, with how long the lane
   * has been idle) this often, so windows can close on an idle timeout. Undefined: no ticks.
   */
  readonly idleTickMs?: number;
}

export interface KafkaSource extends Lifecycle {
  /** One emission per kafkajs batch (one partition, in offset order). */
  readonly batches$: Observable<Batch<SourceRecord>>;
  /** Partitions currently assigned to this instance, as `topic/partition`. */
  assigned(): string[];
  /** Records not yet committed by the group, per `topic/partition` of the source topics. */
  lag(): Promise<Map<string, bigint>>;
  /**
   * Records not yet handed to storage by this instance, per `topic/partition` (commits may trail:
   * open windows hold them back on purpose).
   */
  behind(): Promise<Map<string, bigint>>;
  /** Stop or restart fetching (e.g. while the store's circuit is open); in-flight batches go on. */
  pause(): void;
  resume(): void;
  /**
   * Told of each new group generation (after a rebalance): every lane it keeps starts again from its
   * commit, and lanes it lost get no more batches.
   */
  onGeneration(listener: (generation: number) => void): void;
  /**
   * Told when the lanes have read all there is, after a backlog: every assigned lane's last batch
   * reached its partition's high watermark (after one had not since the last time), and storage took
   * everything handed out. Not while a lane has had no batch yet, nor while records stream in as
   * they are written (the lanes never fall behind then).
   */
  onCaughtUp(listener: () => void): void;
  /** Stop handing out batches, and wait until every batch handed out is done and its offset committed. */
  drain(flushStorage: () => Promise<void>): Promise<void>;
}

export interface KafkaSourceDeps {
  readonly logger: Logger;
  /** Called when a batch failed after storage accepted it: nothing after it can be committed. */
  readonly onFatal: (err: unknown) => void;
  /** Counts commits sent, by result. */
  readonly offsetCommits?: { inc(labels: { result: 'ok' | 'failed' }): void };
}

const HEARTBEAT_EVERY_MS = 3000;

/**
 * Flushes storage until `busy()` turns false. Each turn waits a few milliseconds as well as for the
 * flush (at most 50 ms): while a batch is upstream of storage (in a lane worker, or its commit on the
 * wire), storage has nothing to flush and its flush resolves at once, and a loop on that alone would
 * spin in microtasks, starve the event loop that would deliver the batch, and leave a timer behind
 * each turn until the heap ran out.
 */
export async function whileBusy(busy: () => boolean, flushStorage: () => Promise<void>): Promise<void> {
  while (busy()) await Promise.all([Promise.race([flushStorage(), delay(50)]), delay(5)]);
}

export function createKafkaSource(config: KafkaSourceConfig, deps: KafkaSourceDeps): KafkaSource {
  const { logger } = deps;
  const subject = new Subject<Batch<SourceRecord>>();
  const assigned = new Set<string>();
  let generation = 0;
  let paused = false;
  let ticker: NodeJS.Timeout | undefined;
  const generationListeners: ((generation: number) => void)[] = [];
  let consumer: Consumer | undefined;
  let admin: Admin | undefined;
  let running = false;
  let stopping = false;
  let activeEachBatch = 0;
  const chain = createLaneChain({
    logger,
    onFatal: deps.onFatal,
    ...(deps.offsetCommits ? { offsetCommits: deps.offsetCommits } : {}),
    assigned,
    emit: (batch) => subject.next(batch),
    commit: async (topic, partition, offset, metadata) => {
      await consumer?.commitOffsets([{ topic, partition, offset, metadata }]);
    },
    stopping: () => stopping,
  });
  const idle = createIdleTicks({ logger, chain, admin: () => admin });

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, resolveOffset } = payload;
    if (batch.isEmpty() || stopping) return;
    activeEachBatch++;
    try {
      const lane = { topic: batch.topic, partition: batch.partition };
      const records = sourceRecords(batch);
      // The batch may end in records the lane never sees: a transaction's commit or abort marker, or
      // an aborted transaction's records. Its end counts, so the lane commits past them (as the Java
      // consumer does) and its next offset can reach the high watermark (a quiet lane counts as idle).
      const last = batch.lastOffset();
      const id = laneId(lane);
      const { commits, act, first } = chain.open(batch.topic, batch.partition);
      // The lane's first batch in this generation starts at the committed offset, and the commit's
      // metadata tells extraction how to rebuild its window state.
      const resume = first
        ? { metadata: await committedMetadata(batch.topic, batch.partition), generation }
        : undefined;
      // The lane's previous batch (or tick) may still be on its way to storage. This one goes out
      // behind it (the chain keeps a lane's order), so that the lane's next fetch overlaps the
      // processing of this one; the lane then waits until storage took the previous one. A lane
      // thus has at most two batches between the source and storage.
      const previous = act.pending;
      chain.advance(act, BigInt(last) + 1n, batch.highWatermark);
      act.lastRecordAt = Date.now();
      const { ack, seq } = chain.handOut(id, act, commits);
      subject.next({
        lane,
        ack,
        firstOffset: batch.firstOffset() ?? records[0]!.offset,
        lastOffset: last,
        records,
        rejected: [],
        filtered: 0,
        seq,
        ...(resume ? { resume } : {}),
      });
      // Keep the group membership alive while this lane waits for room in storage's buffer.
      const beat = setInterval(() => heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
      try {
        await previous;
      } catch (err) {
        // Fatal (e.g. a state limit set to fail): the pipeline stops; nothing of that batch or later
        // ones is committed. Otherwise it failed before storage took it (e.g. the schema registry is
        // unreachable): its acknowledgement failed, which stops the pipeline too (see the lane
        // chain's handOut), and a restart fetches it again from the last commit.
        if (isKind(err, 'fatal')) deps.onFatal(err);
        logger.warn({ lane: id, err: errorMessage(err) }, 'batch failed before storage');
        throw err;
      } finally {
        clearInterval(beat);
      }
      resolveOffset(last); // the lane fetches on; the commit waits for `done`
      await heartbeat();
    } finally {
      activeEachBatch--;
    }
  }

  /** This generation's committed metadata, read once per topic (a new one at each GROUP_JOIN). */
  const newCommittedReads = () =>
    committedReads((topic) => admin!.fetchOffsets({ groupId: config.groupId, topics: [topic] }));
  let committedMetadata = newCommittedReads();

  const allTopics = async () => {
    const patterns = config.topicPatterns.map((p) => new RegExp(p));
    const matching =
      patterns.length === 0 || !admin
        ? []
        : (await admin.listTopics()).filter((t) => patterns.some((p) => p.test(t)));
    return [...new Set([...config.topics, ...matching])];
  };

  const offsetsRound = createOffsetsRound({ admin: () => admin, topics: allTopics, groupId: config.groupId });

  return {
    batches$: subject.asObservable(),
    assigned: () => [...assigned].sort(),

    async lag() {
      const out = new Map<string, bigint>();
      for (const [lane, p] of await offsetsRound()) out.set(lane, p.high - (p.committed ?? p.low));
      return out;
    },

    async behind() {
      const out = new Map<string, bigint>();
      for (const [lane, p] of await offsetsRound()) {
        const at = chain.handedOut(lane);
        out.set(lane, at === undefined ? p.high - (p.committed ?? p.low) : p.high - at);
      }
      return out;
    },

    onCaughtUp(listener) {
      chain.onCaughtUp(listener);
    },

    onGeneration(listener) {
      generationListeners.push(listener);
    },

    pause() {
      paused = true;
      const topics = [...new Set([...assigned].map((l) => l.slice(0, l.lastIndexOf('/'))))];
      if (consumer && topics.length > 0) consumer.pause(topics.map((topic) => ({ topic })));
    },

    resume() {
      paused = false;
      const topics = [...new Set([...assigned].map((l) => l.slice(0, l.lastIndexOf('/'))))];
      if (consumer && topics.length > 0) consumer.resume(topics.map((topic) => ({ topic })));
    },

    async drain(flushStorage) {
      stopping = true;
      this.pause();
      // Lanes inside eachBatch, and batches in the chain, finish once storage takes them; flushing
      // makes room.
      await whileBusy(() => activeEachBatch > 0 || chain.inChain() > 0, flushStorage);
      await flushStorage();
      await chain.commitsSettled();
    },

    async start() {
      registerCompressionCodecs();
      const kafka = new Kafka({
        ...kafkaConnectionOptions(config, config.baseDir),
        logLevel: logLevel.WARN,
        logCreator: kafkaLogCreator(logger),
      });
      admin = await connectAdmin(kafka);
      consumer = kafka.consumer({
        groupId: config.groupId,
        sessionTimeout: config.sessionTimeoutMs,
        maxWaitTimeInMs: config.fetchMaxWaitMs,
      });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assigned.clear();
        for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
          for (const p of partitions) assigned.add(`${topic}/${p}`);
        }
        // A new generation fetches every partition again from its committed offset: batches handed
        // out before no longer commit (see the lane chain's commits).
        chain.newGeneration();
        committedMetadata = newCommittedReads();
        generation++;
        for (const l of generationListeners) l(generation);
        logger.info({ assigned: [...assigned] }, 'partitions assigned');
      });
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => chain.skipped(e));
      consumer.on(consumer.events.CRASH, (e) => {
        logger.error({ err: e.payload.error, restart: e.payload.restart }, 'kafka consumer crashed');
        if (!e.payload.restart) deps.onFatal(e.payload.error);
      });
      await consumer.connect();
      await consumer.subscribe({
        topics: [...config.topics, ...config.topicPatterns.map((p) => new RegExp(p))],
        fromBeginning: config.startFrom === 'earliest',
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: config.partitionsConsumedConcurrently,
        eachBatch,
      });
      running = true;
      const every = config.idleTickMs;
      if (every !== undefined)
        ticker = setInterval(
          () => {
            if (!paused && !stopping) idle.tick(every);
          },
          Math.max(100, every / 4),
        );
      logger.info(
        { topics: config.topics, patterns: config.topicPatterns, groupId: config.groupId },
        'kafka source started',
      );
    },

    async stop(deadline: number) {
      if (!consumer) return;
      running = false;
      stopping = true;
      clearInterval(ticker);
      await beforeDeadline(consumer.disconnect(), deadline, 'kafka consumer disconnect');
      await beforeDeadline(admin?.disconnect() ?? Promise.resolve(), deadline, 'kafka admin disconnect');
      subject.complete();
      assigned.clear();
      logger.info('kafka source stopped');
    },

    health(): Health {
      return { live: true, ready: running && assigned.size > 0, detail: { assigned: assigned.size } };
    },
  };
}
