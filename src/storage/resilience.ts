import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { Logger } from '../core/index.js';
import { classifyClickHouseError } from './classify.js';

export interface ResilienceConfig {
  readonly retryInitialDelayMs: number;
  readonly retryMaxDelayMs: number;
  /** Consecutive failed attempts that open the circuit. */
  readonly breakerFailures: number;
  /** How long the circuit stays open before one probe is let through. */
  readonly breakerHalfOpenMs: number;
}

export type CircuitName = 'closed' | 'open' | 'half-open';

export interface Resilience {
  readonly policy: IPolicy;
  circuit(): CircuitName;
  onCircuit(listener: (state: CircuitName) => void): void;
  onRetry(listener: () => void): void;
}

const isRetryable = (err: unknown) =>
  err instanceof BrokenCircuitError || classifyClickHouseError(err).kind === 'retryable';

/**
 * Retryable failures are retried without end, with jittered exponential backoff (the lane waits and
 * nothing is committed meanwhile), behind a circuit breaker: after `breakerFailures` failures in a
 * row it opens, attempts stop hitting ClickHouse except for a probe every `breakerHalfOpenMs`, and
 * the pipeline pauses consumption. Poison and fatal errors pass straight through. Runs are ended by
 * the AbortSignal given to `policy.execute` (a stop deadline).
 */
export function createResilience(config: ResilienceConfig, logger: Logger): Resilience {
  const breaker = circuitBreaker(
    handleWhen(
      (err) => !(err instanceof BrokenCircuitError) && classifyClickHouseError(err).kind === 'retryable',
    ),
    { halfOpenAfter: config.breakerHalfOpenMs, breaker: new ConsecutiveBreaker(config.breakerFailures) },
  );
  const retrying = retry(handleWhen(isRetryable), {
    maxAttempts: Number.POSITIVE_INFINITY,
    backoff: new ExponentialBackoff({
      initialDelay: config.retryInitialDelayMs,
      maxDelay: config.retryMaxDelayMs,
    }),
  });
  const names: Record<CircuitState, CircuitName> = {
    [CircuitState.Closed]: 'closed',
    [CircuitState.Open]: 'open',
    [CircuitState.HalfOpen]: 'half-open',
    [CircuitState.Isolated]: 'open',
  };
  const circuitListeners: ((s: CircuitName) => void)[] = [];
  const retryListeners: (() => void)[] = [];
  breaker.onStateChange((s) => {
    const name = names[s];
    if (name === 'open')
      logger.error({ circuit: name }, 'ClickHouse keeps failing: circuit open, consumption paused');
    else logger.warn({ circuit: name }, `circuit ${name}`);
    for (const l of circuitListeners) l(name);
  });
  retrying.onRetry((e) => {
    if (!('error' in e) || !(e.error instanceof BrokenCircuitError)) {
      logger.warn(
        {
          attempt: e.attempt,
          delayMs: Math.round(e.delay),
          reason: 'error' in e ? e.error.message : 'result',
        },
        'insert failed, retrying',
      );
    }
    for (const l of retryListeners) l();
  });
  return {
    policy: wrap(retrying, breaker),
    circuit: () => names[breaker.state],
    onCircuit: (l) => circuitListeners.push(l),
    onRetry: (l) => retryListeners.push(l),
  };
}
