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
