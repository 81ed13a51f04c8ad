import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { statCpuSeconds, TICKS_PER_SECOND } from '../pipeline/index.js';

/**
 * Where the CPU goes while A, B and C run: this process (all its threads, chDB's included), the
 * Kafka broker's and the ClickHouse server's processes when they run on this machine, and the
 * machine as a whole (Linux /proc; zeros elsewhere). It shows whether a run was bound by the
 * machine's cores or by something else.
 */
export interface CpuReading {
  /** CPU seconds of this process. */
  readonly self: number;
  /** CPU seconds of the services' processes found on this machine. */
  readonly kafka: number;
  readonly clickhouse: number;
  /** Machine-wide CPU seconds busy, and in total (busy + idle), over all cores. */
  readonly busy: number;
  readonly total: number;
}

/** CPU spent per unit of work between readings, summed over spans. */
export interface CpuSpent {
  self: number;
  kafka: number;
  clickhouse: number;
  busy: number;
  total: number;
  /** Records (or rows) the spans handled. */
  units: number;
}

function processSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return 0;
  }
}

/** The stat lines of this process's threads that Node names `node` (Linux; none elsewhere). */
function nodeThreadStats(): string[] {
  const out: string[] = [];
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === 'node') out.push(stat);
    } catch {
      // exited since listed
    }
  }
  return out;
}

/**
 * CPU seconds of this process, and of its threads Node names `node`: the main thread, lane workers,
 * V8's helper threads (garbage collection, compilation) and libuv's pool, where chDB runs the
 * embedded store's queries. chDB's engine names its own threads otherwise. Linux; zeros elsewhere.
 */
export function processThreadSeconds(): { process: number; node: number } {
  let node = 0;
  for (const stat of nodeThreadStats()) node += statCpuSeconds(stat);
  return { process: processSeconds(process.pid), node };
}

function machineSeconds(): { busy: number; total: number } {
  try {
    const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const v = values.map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user .. steal
    const idle = v[3]! + v[4]!; // idle + iowait
    return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** The first process whose command line matches, other than this one. */
function findProcess(pattern: RegExp): number | undefined {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const d of dirs) {
    if (Number(d) === process.pid) continue;
    try {
      if (pattern.test(readFileSync(`/proc/${d}/cmdline`, 'utf8').replace(/\0/g, ' '))) return Number(d);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

export function createCpuMeter() {
  const pids = {
    kafka: findProcess(/\bkafka\.Kafka\b/),
    clickhouse: findProcess(/clickhouse-server|clickhouse server/),
  };
  const read = (): CpuReading => {
    const { user, system } = process.cpuUsage();
    return {
      self: (user + system) / 1e6,
      kafka: processSeconds(pids.kafka),
      clickhouse: processSeconds(pids.clickhouse),
      ...machineSeconds(),
    };
  };
  return {
    found: { kafka: pids.kafka !== undefined, clickhouse: pids.clickhouse !== undefined },
    read,
    empty: (): CpuSpent => ({ self: 0, kafka: 0, clickhouse: 0, busy: 0, total: 0, units: 0 }),
    /** Adds the CPU between `from` and now, for `units` records, to `into`. */
    add(into: CpuSpent, from: CpuReading, units: number): void {
      const to = read();
      into.self += to.self - from.self;
      into.kafka += to.kafka - from.kafka;
      into.clickhouse += to.clickhouse - from.clickhouse;
      into.busy += to.busy - from.busy;
      into.total += to.total - from.total;
      into.units += units;
    },
  };
}

export type CpuMeter = ReturnType<typeof createCpuMeter>;

/** Marks the timed part of a run: its CPU counts towards `spent`. */
export interface CpuSpan {
  begin(): void;
  end(units: number): void;
}

export function cpuSpan(meter: CpuMeter, spent: CpuSpent): CpuSpan {
  let from: CpuReading | undefined;
  return {
    begin: () => void (from = meter.read()),
    end(units) {
      if (from) meter.add(spent, from, units);
      from = undefined;
    },
  };
}

/**
 * Waits until the machine is quiet: its cores less than `threshold` (a share, 0-1) busy over two
 * readings in a row, `stepMs` apart, or `maxMs` have passed. A run may leave work behind it (the ClickHouse
 * server or chDB's threads merging the parts just inserted, the broker flushing its log), which
 * would then count in the next run's time and CPU. In the full runs measured with it, the machine
 * was quiet at the first two readings before every run: that work, if any, was done by then.
 * Returns how long it waited and how busy the machine was at the end.
 */
export async function quietMachine(opts: {
  maxMs: number;
  threshold: number;
  stepMs?: number;
}): Promise<{ waitedMs: number; busy: number; quiet: boolean }> {
  const { maxMs, threshold, stepMs = 250 } = opts;
  const started = performance.now();
  const waited = () => performance.now() - started;
  let calm = 0;
  let busy = 0;
  let from = machineSeconds();
  while (waited() < maxMs) {
    await delay(stepMs);
    const to = machineSeconds();
    const total = to.total - from.total;
    if (total <= 0) return { waitedMs: waited(), busy, quiet: true }; // no /proc to read
    busy = (to.busy - from.busy) / total;
    from = to;
    calm = busy < threshold ? calm + 1 : 0;
    if (calm >= 2) return { waitedMs: waited(), busy, quiet: true };
  }
  return { waitedMs: waited(), busy, quiet: false };
}

/** CPU microseconds per record (or row) in each process, and how busy the machine was. */
export function perUnit(s: CpuSpent, found: { kafka: boolean; clickhouse: boolean }) {
  const us = (seconds: number) => (s.units > 0 ? (seconds * 1e6) / s.units : 0);
  return {
    selfUs: us(s.self),
    ...(found.kafka ? { kafkaUs: us(s.kafka) } : {}),
    ...(found.clickhouse ? { clickhouseUs: us(s.clickhouse) } : {}),
    machineBusy: s.total > 0 ? s.busy / s.total : 0,
  };
}
