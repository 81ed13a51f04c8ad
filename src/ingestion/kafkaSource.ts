import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type LogEntry,
} from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';
import { Subject, type Observable } from 'rxjs';
import {
  beforeDeadline,
  connectAdmin,
  createAck,
  errorMessage,
  isKind,
  kafkaConnectionOptions,
  laneId,
  NO_HEADERS,
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
import { createLaneCommits, type CommitPoint, type LaneCommits } from './laneCommits.js';

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

/** What the ticker needs to know of a lane (this generation). */
interface LaneActivity {
  /** the offset after the last record handed out */
  next: bigint;
  /** the last batch reached the partition's high watermark */
  caughtUp: boolean;
  lastRecordAt: number;
  /**
   * When Kafka last confirmed that the partition had nothing after `next` (its high watermark, asked
   * for while the lane was quiet). Only the time between the last record and this counts as idle:
   * a lane that got nothing because consumption was paused or slow may have records waiting.
   */
  confirmedAt: number;
  lastTickAt: number;
  /**
   * Resolves once storage took every batch (and tick) of this lane handed out so far, or rejects with
   * the first that failed; undefined once it settled. A tick waits for it.
   */
  pending: Promise<void> | undefined;
  /** number of the next batch or tick of this lane in this generation */
  seq: number;
}

function headersToStrings(headers: IHeaders | undefined): Readonly<Record<string, string>> {
  if (!headers) return NO_HEADERS;
  let out: Record<string, string> | undefined;
  for (const k in headers) {
    const v = headers[k];
    if (v === undefined) continue;
    out ??= {};
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
  }
  return out ?? NO_HEADERS;
}

/**
 * A kafkajs batch's messages as source records. A function of its own, apart from the async
 * `eachBatch`: V8 compiled this loop on the stack (OSR) inside it, and that code failed a check
 * further down and was thrown away, up to 91 times in a run (--trace-deopt).
 */
function sourceRecords(batch: EachBatchPayload['batch']): SourceRecord[] {
  const records: SourceRecord[] = new Array(batch.messages.length);
  for (let i = 0; i < batch.messages.length; i++) {
    const m = batch.messages[i]!;
    records[i] = {
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: m.key,
      value: m.value,
      headers: headersToStrings(m.headers),
      timestamp: Number(m.timestamp),
    };
  }
  return records;
}

/** Route kafkajs' own logging into pino. */
function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, ...extra } = log;
      if (level === logLevel.ERROR) logger.error(extra, message);
      else if (level === logLevel.WARN) logger.warn(extra, message);
      else if (level === logLevel.INFO) logger.info(extra, message);
      else logger.debug(extra, message);
    };
}

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
  let lanes = new Map<string, LaneCommits>();
  let activity = new Map<string, LaneActivity>();
  let generation = 0;
  let paused = false;
  let ticker: NodeJS.Timeout | undefined;
  /** When quiet lanes' high watermarks were last asked for, and whether an answer is awaited. */
  let confirmAskedAt = 0;
  let confirming = false;
  const generationListeners: ((generation: number) => void)[] = [];
  let consumer: Consumer | undefined;
  let admin: Admin | undefined;
  let running = false;
  let stopping = false;
  let activeEachBatch = 0;
  /** Batches and ticks handed out that storage has not taken yet. */
  let inChain = 0;
  /** A batch ended below its partition's high watermark since the lanes last caught up. */
  let behind = false;
  const caughtUpListeners: (() => void)[] = [];
  const commitChains = new Map<string, Promise<void>>();
  /** What each lane last committed this generation: a quiet lane's ticks would repeat it. */
  let lastCommit = new Map<string, string>();
  /** Next offset of each lane not yet taken by storage. */
  const handedOut = new Map<string, bigint>();

  function commitLane(topic: string, partition: number, lanesAtStart: Map<string, LaneCommits>) {
    const id = `${topic}/${partition}`;
    return ({ offset, metadata }: CommitPoint) => {
      // A lane whose partition moved to another member (or was reassigned: a new generation refetches
      // from the committed offset) no longer commits; its records are stored and at worst stored again.
      if (lanes !== lanesAtStart || !assigned.has(id)) return;
      const point = `${offset}|${metadata ?? ''}`;
      if (lastCommit.get(id) === point) return;
      const prev = commitChains.get(id) ?? Promise.resolve();
      const committed = lastCommit;
      const next = prev
        .then(() => consumer?.commitOffsets([{ topic, partition, offset: offset.toString(), metadata }]))
        .then(() => {
          committed.set(id, point); // a failed one is asked again by the next tick
          deps.offsetCommits?.inc({ result: 'ok' });
        })
        .catch((err) => {
          deps.offsetCommits?.inc({ result: 'failed' });
          logger.warn(
            { lane: id, offset: offset.toString(), err: errorMessage(err) },
            'offset commit failed',
          );
        });
      commitChains.set(id, next);
    };
  }

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
      let commits = lanes.get(id);
      let resume: { metadata: string | null; generation: number } | undefined;
      if (!commits) {
        // First batch of this lane in this generation: it starts at the committed offset, and the
        // commit's metadata tells extraction how to rebuild its window state.
        commits = createLaneCommits(commitLane(batch.topic, batch.partition, lanes));
        lanes.set(id, commits);
        resume = { metadata: await committedMetadata(batch.topic, batch.partition), generation };
      }
      let act = activity.get(id);
      if (!act)
        activity.set(
          id,
          (act = {
            next: 0n,
            caughtUp: false,
            lastRecordAt: 0,
            confirmedAt: 0,
            lastTickAt: 0,
            pending: undefined,
            seq: 0,
          }),
        );
      // The lane's previous batch (or tick) may still be on its way to storage. This one goes out
      // behind it (the chain keeps a lane's order), so that the lane's next fetch overlaps the
      // processing of this one; the lane then waits until storage took the previous one. A lane
      // thus has at most two batches between the source and storage.
      const previous = act.pending;
      const nextOffset = BigInt(last) + 1n;
      Object.assign(act, {
        next: nextOffset,
        caughtUp: BigInt(batch.highWatermark) <= nextOffset,
        lastRecordAt: Date.now(),
      });
      if (!act.caughtUp) behind = true;
      const { ack, accepted, seq } = handOut(id, act, commits, nextOffset);
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
      void accepted.then(
        () => markHandedOut(id, nextOffset),
        () => undefined,
      );
      // Keep the group membership alive while this lane waits for room in storage's buffer.
      const beat = setInterval(() => heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
      try {
        await previous;
      } catch (err) {
        // Fatal (e.g. a state limit set to fail): the pipeline stops; nothing of that batch or later
        // ones is committed. Otherwise it failed before storage took it (e.g. the schema registry is
        // unreachable): its acknowledgement failed, which stops the pipeline too (see handOut), and
        // a restart fetches it again from the last commit.
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

  /**
   * A batch (or tick) of a lane goes out: its commit waits in the lane's order until it is stored,
   * and a failure after storage took it stops the pipeline (nothing after it can be committed).
   */
  function handOut(id: string, act: LaneActivity, commits: LaneCommits, next: bigint) {
    const entry = commits.add(next);
    const { ack, accepted, done, commit } = createAck();
    done.then(
      () => entry.done(commit()),
      (err: unknown) => {
        logger.error(
          { lane: id, err: errorMessage(err) },
          'a stored batch failed: nothing after it is committed',
        );
        deps.onFatal(err);
      },
    );
    // Until storage takes it, the batch is in the chain: drain waits for it, and ticks wait behind it.
    inChain++;
    const taken = () => {
      if (--inChain === 0) caughtUpAfterBacklog();
    };
    void accepted.then(taken, taken);
    const chain = act.pending ? act.pending.then(() => accepted) : accepted;
    chain.catch(() => undefined); // observed by the lane's next batch, if one comes
    act.pending = chain;
    const clear = () => {
      if (act.pending === chain) act.pending = undefined;
    };
    void chain.then(clear, clear);
    return { ack, accepted, seq: act.seq++ };
  }

  /**
   * Asks Kafka, at most once per `every`, whether quiet lanes really have nothing more: their idle
   * time (and with it an idle clock) runs only up to such an answer.
   */
  function confirmQuiet(quiet: readonly [string, LaneActivity][], every: number) {
    const asked = Date.now();
    if (quiet.length === 0 || confirming || !admin || asked - confirmAskedAt < every) return;
    confirming = true;
    confirmAskedAt = asked;
    const at = new Map(quiet.map(([id, act]) => [id, { act, next: act.next }]));
    const topics = [...new Set(quiet.map(([id]) => id.slice(0, id.lastIndexOf('/'))))];
    const a = admin;
    void Promise.all(topics.map(async (topic) => ({ topic, ends: await a.fetchTopicOffsets(topic) })))
      .then((answers) => {
        for (const { topic, ends } of answers) {
          for (const end of ends) {
            const lane = at.get(`${topic}/${end.partition}`);
            // Unchanged since the question (no batch came meanwhile) and nothing after it in Kafka.
            if (lane && lane.act.next === lane.next && BigInt(end.high) <= lane.next)
              lane.act.confirmedAt = Math.max(lane.act.confirmedAt, asked);
          }
        }
      })
      .catch((err: unknown) =>
        logger.debug({ err: errorMessage(err) }, 'could not confirm quiet lanes; they count as busy'),
      )
      .finally(() => (confirming = false));
  }

  /**
   * kafkajs does not hand out a batch of only transaction markers or aborted records, but tells of it.
   * When nothing the lane has not seen lies between, the lane moves past them with an empty batch
   * through the chain, as the Java consumer's position does: it commits past them (with the window
   * state's metadata, which extraction writes), counts as caught up, and reports no lag for them.
   */
  function skipped(e: {
    payload: {
      topic: string;
      partition: number;
      batchSize: number;
      firstOffset: string | null;
      lastOffset: string;
      highWatermark: string;
    };
  }) {
    const { topic, partition, batchSize, firstOffset, lastOffset, highWatermark } = e.payload;
    if (batchSize !== 0 || firstOffset === null) return;
    const id = `${topic}/${partition}`;
    const act = activity.get(id);
    const commits = lanes.get(id);
    const next = BigInt(lastOffset) + 1n;
    if (!act || !commits || stopping || BigInt(firstOffset) > act.next || next <= act.next) return;
    act.next = next;
    act.caughtUp = BigInt(highWatermark) <= next;
    if (!act.caughtUp) behind = true;
    handOutEmpty(id, act, commits, { firstOffset, lastOffset }, 'a skipped range');
  }

  /** After a backlog, once every assigned lane reached its high watermark and storage took it all. */
  function caughtUpAfterBacklog() {
    if (!behind || stopping || assigned.size === 0) return;
    for (const id of assigned) if (activity.get(id)?.caughtUp !== true) return;
    behind = false;
    for (const l of caughtUpListeners) l();
  }

  function markHandedOut(id: string, next: bigint) {
    if ((handedOut.get(id) ?? -1n) < next) handedOut.set(id, next);
  }

  /**
   * A batch without records up to the lane's `next` (an idle tick, or a range with nothing to hand
   * out): it goes through the chain like any batch, so the lane commits behind it.
   */
  function handOutEmpty(
    id: string,
    act: LaneActivity,
    commits: LaneCommits,
    span: { firstOffset: string; lastOffset: string },
    what: string,
    idleMs?: number,
  ) {
    const slash = id.lastIndexOf('/');
    const lane = { topic: id.slice(0, slash), partition: Number(id.slice(slash + 1)) };
    const next = act.next;
    const { ack, accepted, seq } = handOut(id, act, commits, next);
    accepted.then(
      () => markHandedOut(id, next),
      (err: unknown) => logger.warn({ lane: id, err: errorMessage(err) }, `${what} failed before storage`),
    );
    subject.next({
      lane,
      ack,
      ...span,
      records: [],
      rejected: [],
      filtered: 0,
      seq,
      ...(idleMs !== undefined ? { idleMs } : {}),
    });
  }

  /** Hand an empty batch to every caught-up lane that has had no records for a tick's time. */
  function tick(every: number) {
    if (paused || stopping) return;
    const now = Date.now();
    const quiet: [string, LaneActivity][] = [];
    for (const [id, act] of activity) {
      const commits = lanes.get(id);
      if (!commits || act.pending || !act.caughtUp) continue;
      if (now - act.lastRecordAt < every) continue;
      quiet.push([id, act]);
      if (now - act.lastTickAt < every) continue;
      act.lastTickAt = now;
      const at = (act.next - 1n).toString();
      const idleMs = Math.max(0, act.confirmedAt - act.lastRecordAt);
      handOutEmpty(id, act, commits, { firstOffset: at, lastOffset: at }, 'an idle tick', idleMs);
    }
    confirmQuiet(quiet, every);
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
        const at = handedOut.get(lane);
        out.set(lane, at === undefined ? p.high - (p.committed ?? p.low) : p.high - at);
      }
      return out;
    },

    onCaughtUp(listener) {
      caughtUpListeners.push(listener);
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
      await whileBusy(() => activeEachBatch > 0 || inChain > 0, flushStorage);
      await flushStorage();
      await Promise.all(commitChains.values());
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
        // out before no longer commit (see commitLane).
        lanes = new Map();
        lastCommit = new Map();
        activity = new Map();
        committedMetadata = newCommittedReads();
        generation++;
        for (const l of generationListeners) l(generation);
        logger.info({ assigned: [...assigned] }, 'partitions assigned');
      });
      consumer.on(consumer.events.END_BATCH_PROCESS, skipped);
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
      if (every !== undefined) ticker = setInterval(() => tick(every), Math.max(100, every / 4));
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
