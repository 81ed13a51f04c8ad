/** A promise with its resolve/reject handles, used to hand a batch's completion back to its lane. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An Ack with the two promises its lane waits on: accepted into storage's buffer, and done (stored). */
export interface AckHandle {
  readonly ack: import('./batch.js').Ack;
  readonly accepted: Promise<void>;
  readonly done: Promise<void>;
  /** What `commitAt` asked for, if anything. */
  commit(): { offset: bigint; metadata: string } | undefined;
}

export function createAck(): AckHandle {
  const accepted = deferred<void>();
  const done = deferred<void>();
  // Rejections are handled by whoever awaits; these keep an unobserved one from crashing the process.
  accepted.promise.catch(() => undefined);
  done.promise.catch(() => undefined);
  let commit: { offset: bigint; metadata: string } | undefined;
  return {
    commit: () => commit,
    ack: {
      commitAt: (offset, metadata) => {
        commit = { offset, metadata };
      },
      accept: () => accepted.resolve(),
      resolve: () => {
        accepted.resolve();
        done.resolve();
      },
      reject: (err) => {
        accepted.reject(err);
        done.reject(err);
      },
    },
    accepted: accepted.promise,
    done: done.promise,
  };
}
