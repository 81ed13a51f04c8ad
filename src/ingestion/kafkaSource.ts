import {
  Kafka,
  logLevel,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type LogEntry,
} from 'kafkajs';
import { Subject, type Observable } from 'rxjs';
import {
  beforeDeadline,
  deferred,
  laneId,
  type Batch,
  type Health,
  type Lifecycle,
  type Logger,
  type SourceRecord,
} from '../core/index.js';

export interface KafkaSourceConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Topic name patterns (regular expressions); matching topics are consumed too. */
  readonly topicPatterns: readonly string[];
  readonly startFrom: 'earliest' | 'latest';
  readonly partitionsConsumedConcurrently: number;
  readonly sessionTimeoutMs: number;
}

export interface KafkaSource extends Lifecycle {
  /** One emission per kafkajs batch (one partition); the lane waits on `batch.ack` before fetching on. */
  readonly batches$: Observable<Batch<SourceRecord>>;
  /** Partitions currently assigned to this instance, as `topic/partition`. */
  assigned(): string[];
  /** Records not yet committed by the group, per `topic/partition` of the source topics. */
  lag(): Promise<Map<string, bigint>>;
}

export interface KafkaSourceDeps {
  readonly logger: Logger;
  /** Called when a lane's batch failed with an error the source cannot retry its way out of. */
  readonly onFatal: (err: unknown) => void;
  readonly isFatal: (err: unknown) => boolean;
}

const HEARTBEAT_EVERY_MS = 3000;

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map((x) => x.toString()).join(',') : v.toString();
  }
  return out;
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

export function createKafkaSource(config: KafkaSourceConfig, deps: KafkaSourceDeps): KafkaSource {
  const { logger } = deps;
  const subject = new Subject<Batch<SourceRecord>>();
  const assigned = new Set<string>();
  let consumer: Consumer | undefined;
  let admin: Admin | undefined;
  let running = false;

  async function eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, resolveOffset } = payload;
    if (batch.isEmpty()) return;
    const lane = { topic: batch.topic, partition: batch.partition };
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
    const done = deferred<void>();
    // Keep the group membership alive while this lane waits for its batch to be stored.
    const beat = setInterval(() => heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
    try {
      subject.next({
        lane,
        ack: done,
        firstOffset: batch.firstOffset() ?? records[0]!.offset,
        lastOffset: batch.lastOffset(),
        records,
        rejected: [],
        filtered: 0,
      });
      await done.promise;
    } catch (err) {
      if (deps.isFatal(err)) deps.onFatal(err);
      // Nothing is committed: kafkajs re-fetches this lane from its last committed offset.
      logger.warn({ lane: laneId(lane), err }, 'batch failed; it will be fetched again');
      throw err;
    } finally {
      clearInterval(beat);
    }
    const last = records[records.length - 1]!.offset;
    resolveOffset(last);
    // Commit only now: every record up to `last` is stored or dead-lettered.
    await consumer!.commitOffsets([{ ...lane, offset: (BigInt(last) + 1n).toString() }]);
  }

  return {
    batches$: subject.asObservable(),
    assigned: () => [...assigned].sort(),

    async lag() {
      const out = new Map<string, bigint>();
      if (!admin) return out;
      const patterns = config.topicPatterns.map((p) => new RegExp(p));
      const matching =
        patterns.length === 0
          ? []
          : (await admin.listTopics()).filter((t) => patterns.some((p) => p.test(t)));
      const topics = [...new Set([...config.topics, ...matching])];
      const committed = await admin.fetchOffsets({ groupId: config.groupId, topics });
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const end of ends) {
          const c = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
          const from = c === '-1' ? BigInt(end.low) : BigInt(c);
          out.set(`${topic}/${end.partition}`, BigInt(end.high) - from);
        }
      }
      return out;
    },

    async start() {
      const kafka = new Kafka({
        clientId: config.clientId,
        brokers: [...config.brokers],
        logLevel: logLevel.WARN,
        logCreator: kafkaLogCreator(logger),
      });
      admin = kafka.admin();
      await admin.connect();
      consumer = kafka.consumer({ groupId: config.groupId, sessionTimeout: config.sessionTimeoutMs });
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        assigned.clear();
        for (const [topic, partitions] of Object.entries(e.payload.memberAssignment)) {
          for (const p of partitions) assigned.add(`${topic}/${p}`);
        }
        logger.info({ assigned: [...assigned] }, 'partitions assigned');
      });
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
      logger.info({ topics: config.topics, groupId: config.groupId }, 'kafka source started');
    },

    async stop(deadline: number) {
      if (!consumer) return;
      running = false;
      // disconnect() lets in-flight batches finish (and commit) before leaving the group.
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
