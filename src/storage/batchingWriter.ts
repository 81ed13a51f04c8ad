import type { Ack } from '../core/index.js';

export interface BatchingConfig {
  /** Flush when this many rows are waiting ... */
  readonly batchRows: number;
  /** ... or this many bytes (raw Kafka value bytes, a cheap proxy for insert size) ... */
  readonly batchBytes: number;
  /** ... or when the oldest waiting batch is this old ... */
  readonly flushIntervalMs: number;
  /** ... or when no batch has come for this long (0: never; see createBatchingWriter). Default 100. */
  readonly quietFlushMs?: number;
  /** Lanes wait (backpressure) while the buffer, in-flight inserts included, holds more than this. */
  readonly bufferRows: number;
  readonly bufferBytes: number;
  readonly insertsInFlight: number;
}

/**
 * Nothing accepted for this long: the lanes have paused, at the end of a backlog or of a burst.
 * While a topic is written to, Kafka hands a consumer that keeps up records every few milliseconds.
 */
const QUIET_MS = 100;

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
  /**
   * The input has nothing more for now (every lane at the end of its partition, everything read
   * taken): what waits is written as at a pause, without waiting `quietFlushMs` for one. Nothing
   * when quiet flushes are off (0); a batch accepted after it waits for a pause again.
   */
  caughtUp(): void;
  stats(): BufferStats;
  close(): void;
}

/**
 * Collects lane batches into inserts of about `batchRows` rows, about once per `flushIntervalMs`,
 * with at most `insertsInFlight` inserts at a time. The buffer is bounded: `accept` waits while it is
 * full, so memory is bounded by configuration, not by the backlog. `write` resolves when a chunk is
 * stored (it retries on its own) and rejects only for errors that end the pipeline.
 *
 * When nothing has been accepted for `quietFlushMs` (default QUIET_MS), what waits is written
 * then, not up to a flush interval later: the last rows of a backlog or a burst are stored as soon
 * as the lanes pause (as ClickHouse's Kafka engine writes its block when a poll brings nothing). Unless a tenth of
 * `batchRows` waits, a quiet flush comes only a flush interval after the last flush by time, so a
 * slow trickle of records still makes about one insert per interval, not one per record. When the
 * source knows it has read all there is (`caughtUp`), the pause is taken as come: the end of a
 * backlog is written without the `quietFlushMs` wait, under the same tenth-of-a-chunk rule.
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
  let timerAt = 0;
  const quiet = config.quietFlushMs ?? QUIET_MS;
  const quietMs = quiet === 0 ? Number.POSITIVE_INFINITY : Math.min(quiet, config.flushIntervalMs);
  const quietRows = Math.ceil(config.batchRows / 10);
  let lastAccepted = Number.NEGATIVE_INFINITY;
  /** The input caught up (see caughtUp), and no batch has come since. */
  let atEnd = false;
  let lastTimedFlush = Number.NEGATIVE_INFINITY;
  const spaceWaiters: (() => void)[] = [];
  const idleWaiters: (() => void)[] = [];
  let closed = false;

  const hasRoom = (rows: number, bytes: number) =>
    bufferedRows === 0 ||
    (bufferedRows + rows <= config.bufferRows && bufferedBytes + bytes <= config.bufferBytes);

  function admit(p: Pending<T>) {
    lastAccepted = p.since;
    atEnd = false;
    queue.push(p);
    bufferedRows += p.rows;
    bufferedBytes += p.bytes;
    queuedRows += p.rows;
    queuedBytes += p.bytes;
    p.item.ack.accept();
  }

  /** Whether a chunk goes now, and why: it is full (or a drain waits), by the interval, or quiet. */
  function due(): false | 'full' | 'interval' | 'quiet' {
    if (queue.length === 0) return false;
    if (draining > 0 || queuedRows >= config.batchRows || queuedBytes >= config.batchBytes) return 'full';
    const t = now();
    if (t - queue[0]!.since >= config.flushIntervalMs) return 'interval';
    return t >= quietAt() ? 'quiet' : false;
  }

  /**
   * When the lanes count as paused: `quietFlushMs` after the last batch came, or when it came if the
   * input has caught up since. Unless a tenth of a chunk waits, also a flush interval after the last
   * flush by time (interval or quiet; full chunks do not count): a trickle then makes about one
   * insert per interval, while the rest of a backlog is written when it ends, even just after an
   * earlier pause (a cold start) was.
   */
  const quietAt = () => {
    const paused = lastAccepted + (atEnd ? 0 : quietMs);
    return queuedRows >= quietRows ? paused : Math.max(paused, lastTimedFlush + config.flushIntervalMs);
  };

  function schedule() {
    // With every insert slot taken, the next to finish pumps: a timer would only fire for nothing
    // (and, once a flush is overdue, again every millisecond).
    if (queue.length === 0 || closed || inFlight >= config.insertsInFlight) return;
    const at = Math.min(queue[0]!.since + config.flushIntervalMs, quietAt());
    if (timer) {
      if (timerAt <= at) return; // it comes first; it schedules again if nothing is due then
      clearTimeout(timer);
    }
    timerAt = at;
    timer = setTimeout(
      () => {
        timer = undefined;
        pump();
      },
      Math.max(0, at - now()),
    );
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
    let why: ReturnType<typeof due>;
    while (inFlight < config.insertsInFlight && (why = due())) {
      if (why !== 'full') lastTimedFlush = now();
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

    caughtUp() {
      if (quietMs === Number.POSITIVE_INFINITY) return;
      atEnd = true;
      pump();
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
