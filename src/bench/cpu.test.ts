import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { quietMachine } from './cpu.js';

describe('quietMachine (each benchmark run starts on a quiet machine)', () => {
  const spinners: ChildProcess[] = [];
  afterEach(() => {
    for (const s of spinners.splice(0)) s.kill('SIGKILL');
  });

  it('keeps waiting while every core is busy, and says the machine was not quiet', async () => {
    // One spinning process per core: the machine is near 100% busy, far above the 15% threshold.
    for (let i = 0; i < cpus().length; i++)
      spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 300));
    const q = await quietMachine({ maxMs: 1_000, stepMs: 200, threshold: 0.15 });
    expect(q.quiet).toBe(false);
    expect(q.waitedMs).toBeGreaterThanOrEqual(1_000);
    expect(q.busy).toBeGreaterThan(0.5);
  });

  it('returns after two calm readings in a row', async () => {
    // A threshold no machine reaches: every reading is calm, so it returns after the second one.
    const q = await quietMachine({ maxMs: 5_000, stepMs: 100, threshold: 1.01 });
    expect(q.quiet).toBe(true);
    expect(q.waitedMs).toBeGreaterThanOrEqual(190);
    expect(q.waitedMs).toBeLessThan(1_000);
  });
});
