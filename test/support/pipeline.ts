import type { PipelineConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/core/index.js';
import { createPipeline, type Pipeline } from '../../src/pipeline/index.js';
import { caughtUp, waitFor } from './kafka.js';

/** Runs a pipeline in this process until the group has committed every record of `topics`, then stops it. */
export async function runUntilCaughtUp(
  config: PipelineConfig,
  topics: readonly string[],
  timeoutMs = 120_000,
): Promise<Pipeline> {
  const pipeline = createPipeline(config, {
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn', destination: 2 }),
  });
  await pipeline.start();
  try {
    await waitFor(
      `group ${config.kafka.groupId} to commit ${topics.join(', ')}`,
      async () => {
        for (const t of topics)
          if (!(await caughtUp(config.kafka.brokers.join(','), config.kafka.groupId, t))) return false;
        return true;
      },
      timeoutMs,
      500,
    );
  } finally {
    await pipeline.stop(Date.now() + 30_000);
  }
  return pipeline;
}

/**
 * Per user, 10 s tumbling windows on the `ts` field, counted; no out-of-orderness or lateness, and a
 * 1 s idle timeout, so idle lanes close their windows quickly.
 */
export const USER_10S_IDLE = {
  name: 'user_10s',
  entity: 'user',
  eventTime: 'ts',
  window: { type: 'tumbling', size: '10s' },
  outOfOrderness: '0s',
  allowedLateness: '0s',
  idleTimeout: '1s',
  aggregations: [{ name: 'events', fn: 'count' }],
} as const;
