import { readFileSync, readlinkSync } from 'node:fs';
import { Counter, type Registry } from 'prom-client';

/** Clock ticks a second in /proc (USER_HZ on Linux). */
export const TICKS_PER_SECOND = 100;

/** This thread's id in the operating system (Linux: from /proc/thread-self); undefined elsewhere. */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user and system) a thread of this process has used, from /proc/self/task/<tid>/stat
 * (Linux); undefined elsewhere, or once the thread has exited.
 */
export function threadCpuSeconds(tid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The CPU seconds (user and system) in a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line. */
export function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are the 14th and 15th fields of the line, the 12th and 13th after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export const THREAD_CPU_METRIC = 'megaservice_thread_cpu_seconds_total';

/**
 * megaservice_thread_cpu_seconds_total{thread}: the CPU the pipeline's own threads used, read when
 * scraped. `main` runs kafkajs, the ClickHouse client and the hand-outs; `lane-worker-<n>` the
 * per-record work. A lane worker near one second a second is the bottleneck, and more `workers` may
 * pay if the machine has cores to spare. V8's garbage collection and compilation threads, and chDB's
 * engine, are in process_cpu_seconds_total only. Linux only: elsewhere the metric has no values.
 */
export function registerThreadCpu(
  registry: Registry,
  threads: () => readonly (readonly [name: string, tid: number])[],
): void {
  new Counter({
    name: THREAD_CPU_METRIC,
    help: "CPU seconds used by the pipeline's threads: main (kafkajs, the ClickHouse client) and each lane worker (Linux)",
    labelNames: ['thread'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [thread, tid] of threads()) {
        const seconds = threadCpuSeconds(tid);
        if (seconds !== undefined) this.inc({ thread }, seconds);
      }
    },
  });
}
