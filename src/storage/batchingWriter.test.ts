import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Ack } from '../core/index.js';
import { createBatchingWriter, type BatchingConfig } from './batchingWriter.js';

const config: BatchingConfig = {
  batchRows: 1000,
  batchBytes: 1 << 20,
  flushIntervalMs: 1000,
  bufferRows: 10_000,
  bufferBytes: 1 << 24,
  insertsInFlight: 2,
};

const ack = (): Ack => ({ accept() {}, resolve() {}, reject() {}, commitAt() {} }) as unknown as Ack;

/** A writer whose writes are recorded with the (fake) time they started, and resolve at once. */
function recorded(overrides: Partial<BatchingConfig> = {}) {
  const writes: { at: number; items: number[] }[] = [];
  const start = Date.now();
  const writer = createBatchingWriter<{ ack: Ack; n: number }>({ ...config, ...overrides }, (items) => {
    writes.push({ at: Date.now() - start, items: items.map((i) => i.n) });
    return Promise.resolve();
  });
  let n = 0;
  const accept = (rows = 10) => writer.accept({ ack: ack(), n: n++ }, rows, rows * 100);
  return { writes, writer, accept };
}

describe('batching writer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes what waits once the lanes pause for 100 ms, not a flush interval later', async () => {
    const { writes, writer, accept } = recorded();
    await accept();
    await vi.advanceTimersByTimeAsync(50);
    await accept();
    await accept();
    await vi.advanceTimersByTimeAsync(99);
    expect(writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes).toEqual([{ at: 150, items: [0, 1, 2] }]);
    writer.close();
  });

  it('writes what waits at once when the input has caught up, under the same tenth-of-a-chunk rule, and not with quiet flushes off', async () => {
    const { writes, writer, accept } = recorded();
    await accept(100); // a tenth of batchRows
    await accept(50);
    writer.caughtUp();
    await vi.advanceTimersByTimeAsync(0);
    expect(writes).toEqual([{ at: 0, items: [0, 1] }]);
    // A batch after it waits for a pause again; so does less than a tenth, for a flush interval
    // after the last flush by time (the one above), even when caught up.
    await accept(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(writes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes[1]).toEqual({ at: 100, items: [2] });
    await vi.advanceTimersByTimeAsync(500);
    await accept(10); // at 600
    writer.caughtUp();
    await vi.advanceTimersByTimeAsync(499);
    expect(writes).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(writes[2]).toEqual({ at: 1100, items: [3] });
    writer.close();

    const off = recorded({ quietFlushMs: 0 });
    await off.accept(200);
    off.writer.caughtUp();
    await vi.advanceTimersByTimeAsync(999);
    expect(off.writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(off.writes).toEqual([{ at: 1000, items: [0] }]);
    off.writer.close();
  });

  it('waits quietFlushMs for a pause when set, and only for the interval with 0', async () => {
    const slow = recorded({ quietFlushMs: 300 });
    await slow.accept();
    await vi.advanceTimersByTimeAsync(299);
    expect(slow.writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(slow.writes).toEqual([{ at: 300, items: [0] }]);
    slow.writer.close();

    const off = recorded({ quietFlushMs: 0 });
    await off.accept(200); // a tenth of batchRows or more: would be written at a pause
    await vi.advanceTimersByTimeAsync(999);
    expect(off.writes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(off.writes).toEqual([{ at: 1000, items: [0] }]);
    off.writer.close();
  });

  it('while records keep arriving, writes by the flush interval as before', async () => {
    const { writes, writer, accept } = recorded();
    for (let t = 0; t < 1400; t += 50) {
      await accept();
      await vi.advanceTimersByTimeAsync(50);
    }
    // The first chunk at the interval (the oldest row 1000 ms old), not at a pause.
    expect(writes[0]).toEqual({ at: 1000, items: Array.from({ length: 20 }, (_, i) => i) });
    writer.close();
  });

  it('flushes by time at most about once per interval, so a trickle still makes few inserts', async () => {
    const { writes, writer, accept } = recorded();
    await accept(); // t=0: written at 100 (quiet)
    await vi.advanceTimersByTimeAsync(300);
    await accept(); // t=300: the next quiet flush may come at 1100, before its interval (1300)
    await vi.advanceTimersByTimeAsync(700);
    expect(writes.map((w) => w.at)).toEqual([100]);
    await vi.advanceTimersByTimeAsync(100);
    expect(writes).toEqual([
      { at: 100, items: [0] },
      { at: 1100, items: [1] },
    ]);
    // A record every 150 ms for 3 s: a flush by time (interval or quiet) at most about once a second.
    for (let t = 0; t < 3000; t += 150) {
      await accept();
      await vi.advanceTimersByTimeAsync(150);
    }
    await vi.advanceTimersByTimeAsync(2000);
    const later = writes.slice(2);
    expect(later.flatMap((w) => w.items)).toHaveLength(20);
    // About one insert a second (here 2100, 3150, 4150), not one per record.
    for (let i = 1; i < later.length; i++)
      expect(later[i]!.at - later[i - 1]!.at).toBeGreaterThanOrEqual(900);
    writer.close();
  });

  it('writes a tenth of a chunk or more at a pause even just after a quiet flush (a cold start)', async () => {
    const { writes, writer, accept } = recorded();
    await accept(); // written at 100, quiet
    await vi.advanceTimersByTimeAsync(200);
    await accept(150); // 150 of batchRows 1000 wait: not a trickle
    await vi.advanceTimersByTimeAsync(100);
    expect(writes).toEqual([
      { at: 100, items: [0] },
      { at: 300, items: [1] },
    ]);
    writer.close();
  });

  it('sets no timer while every insert slot is taken', async () => {
    const releases: (() => void)[] = [];
    const writer = createBatchingWriter<{ ack: Ack }>(
      { ...config, insertsInFlight: 1 },
      () => new Promise<void>((r) => releases.push(r)),
    );
    await writer.accept({ ack: ack() }, 10, 10);
    await vi.advanceTimersByTimeAsync(100); // quiet: the one slot is taken
    await writer.accept({ ack: ack() }, 10, 10);
    await vi.advanceTimersByTimeAsync(5000); // overdue, and waits for the slot
    expect(releases).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    releases[0]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(releases).toHaveLength(2);
    writer.close();
  });

  it('still writes a full chunk at once, without waiting for a pause', async () => {
    const { writes, writer, accept } = recorded();
    await accept(600);
    await accept(600);
    expect(writes).toEqual([{ at: 0, items: [0] }]);
    writer.close();
  });
});
