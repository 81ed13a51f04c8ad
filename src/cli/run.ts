import { getHeapStatistics } from 'node:v8';
import { loadConfig } from '../config/index.js';
import {
  CONTAINER_HEAP_FLAGS,
  createLogger,
  errorMessage,
  heapSizedByContainer,
  servedRegistry,
} from '../core/index.js';
import { createObservabilityServer } from '../observability/index.js';
import { createPipeline } from '../pipeline/index.js';

export interface RunOptions {
  readonly config: string;
  readonly shutdownTimeoutMs: number;
  /** Stop on our own once the group has committed every record of the source topics (batch/backfill runs). */
  readonly exitWhenCaughtUp: boolean;
}

/** Runs the pipeline until SIGTERM/SIGINT (or caught up); resolves with the process exit code. */
export async function run(opts: RunOptions): Promise<number> {
  const config = await loadConfig(opts.config);
  const logger = createLogger({ level: config.log.level });
  const heap = heapSizedByContainer(
    process.constrainedMemory(),
    getHeapStatistics().heap_size_limit,
    process.execArgv,
    process.env.NODE_OPTIONS,
  );
  if (heap)
    logger.warn(
      { ...heap, flags: CONTAINER_HEAP_FLAGS.join(' ') },
      "node sized V8's heap from the container's memory limit, so garbage collection costs more CPU; start node with these flags (the image does)",
    );
  let stopping: Promise<number> | undefined;
  let resolveExit!: (code: number) => void;
  const exit = new Promise<number>((r) => (resolveExit = r));

  const stop = (why: string, code: number) => {
    if (stopping) return stopping;
    logger.info({ why, deadlineMs: opts.shutdownTimeoutMs }, 'stopping');
    stopping = pipeline
      .stop(Date.now() + opts.shutdownTimeoutMs)
      .then(
        () => code,
        (err) => {
          logger.error({ err: errorMessage(err) }, 'stop did not complete cleanly');
          return code === 0 ? 1 : code;
        },
      )
      .then(async (c) => {
        await http?.stop(Date.now() + 1000);
        logger.info({ exitCode: c }, 'stopped');
        resolveExit(c);
        return c;
      });
    return stopping;
  };

  const pipeline = createPipeline(config, {
    logger,
    onFatal: (err) => {
      process.stderr.write(`megaservice: fatal: ${errorMessage(err)}\n`);
      void stop('fatal error', 1);
    },
  });
  const http = config.http.enabled
    ? createObservabilityServer(config.http, {
        registry: servedRegistry(pipeline.telemetry),
        health: () => pipeline.health(),
        logger: logger.child({ module: 'http' }),
      })
    : undefined;
  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  process.once('SIGINT', () => void stop('SIGINT', 0));

  try {
    // Endpoints first, so /health/live answers (and /health/ready says false) while starting up.
    await http?.start();
    await pipeline.start();
  } catch (err) {
    process.stderr.write(`megaservice: cannot start: ${errorMessage(err)}\n`);
    await pipeline.stop(Date.now() + 5000).catch(() => undefined);
    await http?.stop(Date.now() + 1000);
    return 1;
  }

  if (opts.exitWhenCaughtUp) {
    const timer = setInterval(() => {
      pipeline.source
        .behind()
        .then((behind) => {
          const total = [...behind.values()].reduce((a, b) => a + b, 0n);
          const buffer = pipeline.sink.buffer();
          // Everything consumed and stored (open windows stay in state: their commits trail on purpose).
          if (behind.size > 0 && total === 0n && buffer.rows === 0 && buffer.inFlight === 0) {
            clearInterval(timer);
            void stop('caught up', 0);
          }
        })
        .catch((err) => logger.warn({ err: errorMessage(err) }, 'lag check failed'));
    }, 1000);
    void exit.then(() => clearInterval(timer));
  }
  return exit;
}
