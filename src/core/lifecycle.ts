/** Every long-lived part can be started, stopped before a deadline, and asked for its health. */
export interface Health {
  readonly live: boolean;
  readonly ready: boolean;
  readonly detail?: Record<string, unknown>;
}

export interface Lifecycle {
  start(): Promise<void>;
  /** Stop gracefully; `deadline` is an absolute time in ms since the epoch (Date.now() scale). */
  stop(deadline: number): Promise<void>;
  health(): Health;
}

/** Resolves `promise`, or rejects with a clear error once `deadline` passes. */
export async function beforeDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  const ms = Math.max(0, deadline - Date.now());
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish before the deadline (${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
