import { describe, expect, it } from 'vitest';
import { whileBusy } from './kafkaSource.js';

describe('whileBusy (draining at stop)', () => {
  it('lets the event loop deliver what it waits for when storage has nothing to flush', async () => {
    // The batch comes back from a lane worker in a later macrotask; storage is idle until then, so
    // each flush resolves at once. A loop that only awaited the flush never reached that macrotask.
    let busy = true;
    setTimeout(() => (busy = false), 30);
    let flushes = 0;
    const flush = () => {
      if (++flushes > 1_000) return Promise.reject(new Error('spinning: 1,000 flushes in a row'));
      return Promise.resolve();
    };
    await whileBusy(() => busy, flush);
    expect(busy).toBe(false);
    expect(flushes).toBeGreaterThan(0);
    expect(flushes).toBeLessThan(20); // a turn every 5 ms or so, not a spin
  });

  it('waits at most 50 ms a turn on a flush that takes longer', async () => {
    let busy = true;
    const started = Date.now();
    setTimeout(() => (busy = false), 120);
    await whileBusy(
      () => busy,
      () => new Promise<void>(() => {}), // an insert that never finishes
    );
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
