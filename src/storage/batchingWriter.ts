import type { Ack } from '../core/index.js';

export interface BatchingConfig {
  /** Flush when this many rows are waiting ... */
  readonly batchRows: number;
  /** ... or this many bytes (raw Kafka value bytes, a cheap proxy for insert size) ... */
  readonly batchBytes: number;
  /** ... or when the oldest waiting batch is this old. */
  readonly flushIntervalMs: number;
  /** Lanes wait (backpressure) while the buffer, in-flight inserts included, holds more than this. */
  readonly bufferRows: number;
  readonly bufferBytes: number;
  readonly insertsInFlight: number;
}

/** What the writer buffers: anything acknowledged back to its lane once written. */
export interface Buffered {
  readonly ack: Ack;
}

interface Pending<T extends Buffered> {
  readonly item: T;
  readonly rows: number;
  readonly bytes: number;
  readonly since: number;
}

export interface BufferStats {
  readonly rows: number;
  readonly bytes: number;
  readonly batches: number;
  readonly inFlight: number;
  readonly waitingLanes: number;
}

export interface BatchingWriter<T extends Buffered> {
  /** Buffer an item of `rows` rows and `bytes` bytes; resolves once accepted (there was room). Its ack resolves once stored. */
  accept(item: T, rows: number, bytes: number): Promise<void>;
  /** Flush everything buffered now, and resolve when nothing is buffered or in flight. */
  drain(): Promise<void>;
  stats(): BufferStats;
  close(): void;
}

/**
 * Collects lane batches into inserts of about `batchRows` rows, about once per `flushIntervalMs`,
 * with at most `insertsInFlight` inserts at a time. The buffer is bounded: `accept` waits while it is
 * full, so memory is bounded by configuration, not by the backlog. `write` resolves when a chunk is
 * stored (it retries on its own) and rejects only for errors that end the pipeline.
 */
export function createBatchingWriter<T extends Buffered>(
  config: BatchingConfig,
  write: (items: readonly T[]) => Promise<void>,
  now: () => number = Date.now,
): BatchingWriter<T> {
  const queue: Pending<T>[] = [];
  let bufferedRows = 0; // queued + in flight
  let bufferedBytes = 0;
  let queuedRows = 0;
  let queuedBytes = 0;
  let inFlight = 0;
  let draining = 0;
  let timer: NodeJS.Timeout | undefined;
  const spaceWaiters: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];
  let closed = false;

  const hasRoom = (rows: number, bytes: number) =>
    bufferedRows === 0 ||
    (bufferedRows + rows <= config.bufferRows && bufferedBytes + bytes <= config.bufferBytes);

  function admit(p: Pending<T>) {
    queue.push(p);
    bufferedRows += p.rows;
    bufferedBytes += p.bytes;
    queuedRows += p.rows;
    queuedBytes += p.bytes;
    p.item.ack.accept();
  }

  function due(): boolean {
    if (queue.length === 0) return false;
    if (draining > 0 || queuedRows >= config.batchRows || queuedBytes >= config.batchBytes) return true;
    return now() - queue[0]!.since >= config.flushIntervalMs;
  }

  function schedule() {
    if (timer || queue.length === 0 || closed) return;
    const wait = Math.max(0, config.flushIntervalMs - (now() - queue[0]!.since));
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, wait);
  }

  function release(chunk: readonly Pending<T>[]) {
    for (const p of chunk) {
      bufferedRows -= p.rows;
      bufferedBytes -= p.bytes;
    }
    while (spaceWaiters.length > 0) {
      const before = spaceWaiters.length;
      spaceWaiters[0]!();
      if (spaceWaiters.length === before) break; // the head still does not fit
    }
  }

  function pump() {
    while (inFlight < config.insertsInFlight && due()) {
      const chunk: Pending<T>[] = [];
      let rows = 0;
      let bytes = 0;
      while (
        queue.length > 0 &&
        (chunk.length === 0 ||
          (rows + queue[0]!.rows <= config.batchRows && bytes + queue[0]!.bytes <= config.batchBytes))
      ) {
        const p = queue.shift()!;
        chunk.push(p);
        rows += p.rows;
        bytes += p.bytes;
      }
      queuedRows -= rows;
      queuedBytes -= bytes;
      inFlight++;
      write(chunk.map((p) => p.item))
        .then(
          () => {
            for (const p of chunk) p.item.ack.resolve();
          },
          (err: unknown) => {
            for (const p of chunk) p.item.ack.reject(err);
          },
        )
        .finally(() => {
          inFlight--;
          release(chunk);
          pump();
          if (inFlight === 0 && queue.length === 0) idleWaiters.splice(0).forEach((w) => w());
        });
    }
    schedule();
  }

  return {
    accept(item, rows, bytes) {
      const pending = (): Pending<T> => ({ item, rows, bytes, since: now() });
      if (spaceWaiters.length === 0 && hasRoom(rows, bytes)) {
        admit(pending());
        pump();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const tryAdmit = () => {
          if (!hasRoom(rows, bytes)) return;
          spaceWaiters.shift();
          admit(pending());
          pump();
          resolve();
        };
        spaceWaiters.push(tryAdmit);
      });
    },

    async drain() {
      draining++;
      try {
        pump();
        if (inFlight > 0 || queue.length > 0) await new Promise<void>((r) => idleWaiters.push(r));
      } finally {
        draining--;
      }
    },

    stats: () => ({
      rows: bufferedRows,
      bytes: bufferedBytes,
      batches: queue.length,
      inFlight,
      waitingLanes: spaceWaiters.length,
    }),

    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
