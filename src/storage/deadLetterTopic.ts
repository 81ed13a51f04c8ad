import { CompressionTypes, Kafka, logLevel, type Producer } from 'kafkajs';
import {
  PipelineError,
  errorMessage,
  kafkaConnectionOptions,
  type KafkaAccessConfig,
  type Logger,
  type RejectedRecord,
} from '../core/index.js';

export interface DeadLetterTopicConfig extends KafkaAccessConfig {
  /** Where relative TLS file paths start (the pipeline file's folder). */
  readonly baseDir: string;
  readonly topic: string;
}

/** Header names on dead-letter messages; the original headers are kept beside them. */
export const DLQ_HEADERS = {
  stage: 'dlq.stage',
  reason: 'dlq.reason',
  topic: 'dlq.source.topic',
  partition: 'dlq.source.partition',
  offset: 'dlq.source.offset',
  timestamp: 'dlq.source.timestamp',
} as const;

export interface DeadLetterTopic {
  start(): Promise<void>;
  /** Resolves when Kafka acknowledged every message (acks=all); a failure is retryable. */
  send(rejected: readonly RejectedRecord[]): Promise<void>;
  stop(): Promise<void>;
}

/** Dead-letter messages: the original key and value bytes, with headers saying why and whence. */
export function deadLetterMessages(rejected: readonly RejectedRecord[]) {
  return rejected.map((r) => ({
    key: r.source.key,
    value: r.source.value,
    timestamp: String(r.source.timestamp),
    headers: {
      ...r.source.headers,
      [DLQ_HEADERS.stage]: r.stage,
      [DLQ_HEADERS.reason]: r.reason,
      [DLQ_HEADERS.topic]: r.source.topic,
      [DLQ_HEADERS.partition]: String(r.source.partition),
      [DLQ_HEADERS.offset]: r.source.offset,
      [DLQ_HEADERS.timestamp]: String(r.source.timestamp),
    },
  }));
}

/** Dead letters to a Kafka topic (see deadLetterMessages). */
export function createDeadLetterTopic(
  config: DeadLetterTopicConfig,
  deps: { logger: Logger },
): DeadLetterTopic {
  let producer: Producer | undefined;
  return {
    async start() {
      const kafka = new Kafka({
        ...kafkaConnectionOptions(config, config.baseDir),
        clientId: `${config.clientId}-dlq`,
        logLevel: logLevel.NOTHING,
      });
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
      await producer.connect();
      deps.logger.info({ topic: config.topic }, 'dead-letter topic producer connected');
    },

    async send(rejected) {
      if (rejected.length === 0) return;
      try {
        await producer!.send({
          topic: config.topic,
          acks: -1,
          compression: CompressionTypes.None,
          messages: deadLetterMessages(rejected),
        });
      } catch (err) {
        throw new PipelineError(
          'retryable',
          'DLQ_TOPIC_SEND',
          `dead-letter topic ${config.topic}: ${errorMessage(err)}`,
          {
            cause: err,
          },
        );
      }
    },

    async stop() {
      await producer?.disconnect();
      producer = undefined;
    },
  };
}
