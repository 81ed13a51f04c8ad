import { hostname } from 'node:os';
import { CompressionTypes, Kafka, logLevel, type Message, type Producer } from 'kafkajs';
import {
  PipelineError,
  errorMessage,
  kafkaConnectionOptions,
  laneId,
  type Batch,
  type DecodedRecord,
  type Health,
  type KafkaAccessConfig,
  type Lifecycle,
  type Logger,
  type RejectedRecord,
  type Telemetry,
} from '../core/index.js';
import type { BufferStats } from './batchingWriter.js';
import { deadLetterMessages } from './deadLetterTopic.js';
import type { CircuitName } from './resilience.js';

/** The header a forwarded record carries: where it was read, as topic/partition/offset. */
export const FORWARD_SOURCE_HEADER = 'megaservice.source';

export interface ForwardSinkConfig {
  readonly kafka: KafkaAccessConfig & { readonly groupId: string };
  /** Where relative TLS file paths start (the pipeline file's folder). */
  readonly baseDir: string;
  readonly topic: string;
  readonly transactionalId?: string | undefined;
  readonly deadLetterTopic: string;
  /** Lanes wait while this many records are queued (the memory bound). */
  readonly bufferRows: number;
}

export interface ForwardSink extends Lifecycle {
  /** Queues a transformed batch (waits while the queue is full); its ack resolves once committed. */
  accept(batch: Batch<DecodedRecord>): Promise<void>;
  /** Waits until every queued batch is committed. */
  drain(): Promise<void>;
  buffer(): BufferStats;
  circuit(): CircuitName;
  onCircuit(listener: (state: CircuitName) => void): void;
}

interface Queued {
  readonly batch: Batch<DecodedRecord>;
  readonly messages: Message[];
  readonly rejected: readonly RejectedRecord[];
}

/** Attempts of one round before the pipeline stops (kafkajs retries each request within one). */
const ATTEMPTS = 5;
/** Most records written in one transaction. */
const ROUND_RECORDS = 20_000;
/**
 * Most value bytes in one send: kafkajs puts a send's messages for a partition into one record
 * batch, which must stay under the broker's message.max.bytes (1 MiB by default). 20,000 records of
 * about 100 bytes in one send were refused as "larger than the max message size".
 */
const SEND_BYTES = 256 * 1024;

/** Splits messages into runs of at most SEND_BYTES of keys and values (a larger message alone). */
export function sendChunks(messages: readonly Message[]): Message[][] {
  const chunks: Message[][] = [];
  let chunk: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.value?.length ?? 0) + (m.key?.length ?? 0);
    if (chunk.length > 0 && bytes + size > SEND_BYTES) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/**
 * Hybrid mode's end of the line: transformed records go to `topic`, exactly once. Each round is one
 * Kafka transaction holding the queued batches' records, their dead letters, and the consumed
 * offsets of their lanes (sendOffsets): a crash before the commit leaves nothing visible to
 * read_committed readers, and the next process starts from the offsets of the last commit.
 * A record keeps its key, timestamp and headers; it goes to the partition of its source (modulo the
 * topic's partitions), so a lane's order holds; its value is the JSON object of its fields.
 */
export function createForwardSink(
  config: ForwardSinkConfig,
  deps: { logger: Logger; telemetry: Telemetry; onFatal: (err: unknown) => void },
): ForwardSink {
  const { logger, telemetry } = deps;
  const transactionalId = config.transactionalId ?? `${config.kafka.groupId}-forward-${hostname()}`;
  let producer: Producer | undefined;
  let partitions = 1;
  let queue: Queued[] = [];
  let queuedRecords = 0;
  let running: Promise<void> | undefined;
  let lastOk = true;
  let failed: unknown;
  const roomWaiters: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];

  function toMessages(batch: Batch<DecodedRecord>): { messages: Message[]; rejected: RejectedRecord[] } {
    const messages: Message[] = [];
    const rejected: RejectedRecord[] = [...batch.rejected];
    for (const r of batch.records) {
      let value: string;
      try {
        value = JSON.stringify(r.fields);
      } catch (err) {
        rejected.push({
          source: r.source,
          stage: 'storage',
          reason: `cannot write as JSON: ${errorMessage(err)}`,
        });
        continue;
      }
      const s = r.source;
      messages.push({
        key: s.key,
        value,
        timestamp: String(s.timestamp),
        partition: s.partition % partitions,
        headers: { ...s.headers, [FORWARD_SOURCE_HEADER]: `${s.topic}/${s.partition}/${s.offset}` },
      });
    }
    return { messages, rejected };
  }

  /** One transaction: the round's records, dead letters, and each lane's next offset. */
  async function writeRound(round: Queued[]) {
    const offsets = new Map<string, { topic: string; partition: number; offset: string }>();
    for (const { batch } of round)
      offsets.set(laneId(batch.lane), { ...batch.lane, offset: (BigInt(batch.lastOffset) + 1n).toString() });
    const byTopic = new Map<string, { partition: number; offset: string }[]>();
    for (const o of offsets.values()) {
      let list = byTopic.get(o.topic);
      if (!list) byTopic.set(o.topic, (list = []));
      list.push({ partition: o.partition, offset: o.offset });
    }
    const messages = round.flatMap((q) => q.messages);
    const dead = round.flatMap((q) => q.rejected);
    const tx = await producer!.transaction();
    try {
      for (const chunk of sendChunks(messages))
        await tx.send({ topic: config.topic, acks: -1, compression: CompressionTypes.None, messages: chunk });
      for (const chunk of sendChunks(deadLetterMessages(dead)))
        await tx.send({ topic: config.deadLetterTopic, acks: -1, messages: chunk });
      await tx.sendOffsets({
        consumerGroupId: config.kafka.groupId,
        topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
      });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      throw err;
    }
    telemetry.recordsIn.inc({ module: 'storage' }, messages.length + dead.length);
    telemetry.recordsOut.inc({ module: 'storage' }, messages.length);
    telemetry.deadLettered.inc(dead.length);
  }

  async function run() {
    while (queue.length > 0) {
      let n = 0;
      let take = 0;
      while (take < queue.length && (take === 0 || n + queue[take]!.messages.length <= ROUND_RECORDS))
        n += queue[take++]!.messages.length;
      const round = queue.slice(0, take);
      for (let attempt = 1; ; attempt++) {
        try {
          await writeRound(round);
          lastOk = true;
          break;
        } catch (err) {
          lastOk = false;
          if (attempt >= ATTEMPTS) {
            failed = new PipelineError(
              'fatal',
              'FORWARD_FAILED',
              `forward.topic ${config.topic}: transaction failed ${ATTEMPTS} times: ${errorMessage(err)}`,
              { cause: err },
            );
            for (const q of queue) q.batch.ack.reject(failed);
            queue = [];
            queuedRecords = 0;
            deps.onFatal(failed);
            return;
          }
          telemetry.retries.inc({ module: 'storage' });
          logger.warn({ err: errorMessage(err), attempt }, 'forward transaction failed; retrying');
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
        }
      }
      queue = queue.slice(take);
      for (const q of round) {
        queuedRecords -= q.batch.records.length;
        q.batch.ack.resolve();
      }
      while (roomWaiters.length > 0 && queuedRecords < config.bufferRows) roomWaiters.shift()!();
    }
  }

  function pump() {
    if (running || queue.length === 0) return;
    running = run().finally(() => {
      running = undefined;
      if (queue.length > 0) pump();
      else while (idleWaiters.length > 0) idleWaiters.shift()!();
    });
  }

  return {
    async start() {
      const kafka = new Kafka({
        ...kafkaConnectionOptions(config.kafka, config.baseDir),
        clientId: `${config.kafka.clientId}-forward`,
        logLevel: logLevel.NOTHING,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [config.topic] });
        partitions = topics[0]?.partitions.length ?? 0;
      } catch (err) {
        throw new PipelineError(
          'fatal',
          'FORWARD_TOPIC',
          `forward.topic ${config.topic} cannot be used: ${errorMessage(err)} (create it first; as many partitions as the source topics keep their partitions apart)`,
          { cause: err },
        );
      } finally {
        await admin.disconnect();
      }
      if (partitions < 1)
        throw new PipelineError('fatal', 'FORWARD_TOPIC', `forward.topic ${config.topic} has no partitions`);
      producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      logger.info(
        { topic: config.topic, partitions, transactionalId },
        'forwarding to a topic (hybrid mode)',
      );
    },

    async accept(batch) {
      if (failed) throw failed;
      if (batch.records.length === 0 && batch.rejected.length === 0) {
        // Nothing to write (an idle tick, or a range of transaction markers): the lane commits it.
        batch.ack.resolve();
        return;
      }
      while (queuedRecords >= config.bufferRows) await new Promise<void>((r) => roomWaiters.push(r));
      const { messages, rejected } = toMessages(batch);
      queue.push({ batch, messages, rejected });
      queuedRecords += batch.records.length;
      batch.ack.accept();
      pump();
    },

    async drain() {
      while (running || queue.length > 0) await new Promise<void>((r) => idleWaiters.push(r));
    },

    buffer: () => ({
      rows: queuedRecords,
      bytes: 0,
      batches: queue.length,
      inFlight: running ? 1 : 0,
      waitingLanes: roomWaiters.length,
    }),
    circuit: () => 'closed',
    onCircuit: () => undefined,

    health(): Health {
      return { live: !failed, ready: lastOk && !failed, detail: { forward: config.topic, lastOk } };
    },

    async stop() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}
