import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAck, type Batch, type DecodedRecord, type FeatureRow } from '../core/index.js';
import { configWithFeatures } from '../testing/config.js';
import { extractFeatures } from './extract.js';

/**
 * Crash and replay at the batch level, many times over: whatever batch a process dies after, and
 * whichever earlier commit it got to make, a new process that starts from that commit (with its
 * metadata) must leave storage as an uninterrupted run does. Storage is modelled as ClickHouse's
 * ReplacingMergeTree: per key, the row with the highest version wins.
 */

const config = configWithFeatures([
  {
    name: 'tumbling',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'tumbling', size: '10s' },
    outOfOrderness: '2s',
    allowedLateness: '1s',
    aggregations: [
      { name: 'n', fn: 'count' },
      { name: 'total', fn: 'sum', field: 'amount' },
    ],
  },
  {
    name: 'hopping',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'hopping', size: '20s', step: '5s' },
    aggregations: [{ name: 'n', fn: 'count' }],
  },
  {
    name: 'sessions',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'session', gap: '3s' },
    outOfOrderness: '2s',
    allowedLateness: '1s',
    aggregations: [
      { name: 'n', fn: 'count' },
      { name: 'total', fn: 'sum', field: 'amount' },
      { name: 'first_kind', fn: 'first', field: 'kind' },
      { name: 'last_kind', fn: 'last', field: 'kind' },
      { name: 'kinds', fn: 'count_distinct', field: 'kind' },
      { name: 'kinds_approx', fn: 'approx_count_distinct', field: 'kind' },
    ],
  },
]);

const CRASHES = Number(globalThis.process.env.CRASHES ?? 3);
function rng(seed: number) {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** Records of one lane: bursts per user (sessions), jitter, and some far-behind (late) events. */
function stream(n: number, seed: number, users = 8): DecodedRecord[] {
  const rand = rng(seed);
  const out: DecodedRecord[] = [];
  let t = 1_000_000;
  for (let i = 0; i < n; i++) {
    t += Math.floor(rand() * 120);
    let ts = t + Math.floor(rand() * 3000) - 1500;
    if (rand() < 0.02) ts -= 15_000;
    const user = `u${Math.floor(rand() * users)}`;
    out.push({
      source: {
        topic: 't',
        partition: 0,
        offset: String(i),
        key: null,
        value: null,
        headers: {},
        timestamp: ts,
      },
      // A user is silent for a while every so often, so sessions end and new ones start.
      fields: { user, ts, amount: Math.floor(rand() * 100), kind: `k${Math.floor(rand() * 200)}` },
    });
    if (rand() < 0.01) t += 6000;
  }
  return out.filter((r) => !(Number(r.source.offset) % 50 < 12 && r.fields.user === 'u0'));
}

/** One process: an extraction instance fed batches in order. */
function startProcess() {
  const input = new Subject<Batch<DecodedRecord>>();
  const out: { features: readonly FeatureRow[]; late: string[] }[] = [];
  input.pipe(extractFeatures(config.output!.columns!, config.features)).subscribe((b) =>
    out.push({
      features: b.features ?? [],
      late: b.rejected.map((r) => `${r.source.offset}|${r.reason}`),
    }),
  );
  let generation = 0;
  return {
    /** A batch; without records it is a tick after `lastOffset`, `idleMs` after the last record. */
    feed(records: DecodedRecord[], resume?: string | null, tick?: { lastOffset: string; idleMs: number }) {
      const { ack, commit } = createAck();
      const last = records.length > 0 ? records[records.length - 1]!.source.offset : tick!.lastOffset;
      const idleMs = tick?.idleMs;
      input.next({
        lane: { topic: 't', partition: 0 },
        ack,
        firstOffset: records[0]?.source.offset ?? last,
        lastOffset: last,
        records,
        rejected: [],
        filtered: 0,
        ...(resume !== undefined ? { resume: { metadata: resume, generation: generation++ } } : {}),
        ...(idleMs !== undefined ? { idleMs } : {}),
      });
      return { ...out[out.length - 1]!, commit: commit()! };
    },
  };
}

type Store = Map<string, FeatureRow>;
const keyOf = (r: FeatureRow) => `${r.featureSet}|${r.entity}|${r.windowStart}|${r.windowEnd}`;

function store(into: Store, rows: readonly FeatureRow[]) {
  for (const r of rows) {
    const prev = into.get(keyOf(r));
    if (!prev || r.version >= prev.version) into.set(keyOf(r), r);
  }
}

/** Cut records (from `from`) into batches of random sizes. */
function batches(records: DecodedRecord[], rand: () => number): DecodedRecord[][] {
  const out: DecodedRecord[][] = [];
  for (let i = 0; i < records.length;) {
    const n = 1 + Math.floor(rand() * 60);
    out.push(records.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Runs `records` uninterrupted, then 40 times with crashes; each run ends with a tick, so closing
 * windows all leave. Returns the uninterrupted run's rows and dead letters, and its commits' metadata.
 */
function crashTrials(
  records: DecodedRecord[],
  rand: () => number,
  /** crash at most this many batches after the commit (default: anywhere after it) */
  crashWithin?: number,
) {
  const lastOffset = records[records.length - 1]!.source.offset;
  const flush = (proc: ReturnType<typeof startProcess>) =>
    proc.feed([], undefined, { lastOffset, idleMs: 0 });
  const reference: Store = new Map();
  const referenceLate = new Set<string>();
  const metadata: string[] = [];
  const p = startProcess();
  for (const b of batches(records, rand)) {
    const r = p.feed(b);
    store(reference, r.features);
    r.late.forEach((l) => referenceLate.add(l));
    metadata.push(r.commit.metadata);
  }
  store(reference, flush(p).features);

  for (let trial = 0; trial < 40; trial++) {
    const stored: Store = new Map();
    const late = new Set<string>();
    let metadata: string | null = null;
    let from = 0;
    // Several crashes in a row, each after a random number of batches, with the last commit lagging.
    for (let crash = 0; crash < CRASHES; crash++) {
      const proc = startProcess();
      const rest = records.filter((r) => Number(r.source.offset) >= from);
      const run = batches(rest, rand);
      let upTo = Math.floor(rand() * run.length);
      let commitAfter = Math.floor(rand() * (upTo + 1));
      if (crashWithin !== undefined) {
        commitAfter = upTo;
        upTo += Math.floor(rand() * (crashWithin + 1));
      }
      let next: { offset: bigint; metadata: string } | undefined;
      for (let i = 0; i <= upTo && i < run.length; i++) {
        const r = proc.feed(run[i]!, i === 0 ? metadata : undefined);
        store(stored, r.features);
        r.late.forEach((l) => late.add(l));
        if (i === commitAfter) next = r.commit;
      }
      if (next) {
        metadata = next.metadata;
        from = Number(next.offset);
      }
    }
    const proc = startProcess();
    const run = batches(
      records.filter((r) => Number(r.source.offset) >= from),
      rand,
    );
    run.forEach((b, i) => {
      const r = proc.feed(b, i === 0 ? metadata : undefined);
      store(stored, r.features);
      r.late.forEach((l) => late.add(l));
    });
    store(stored, flush(proc).features);
    expect(stored, `trial ${trial}`).toEqual(reference);
    expect(late, `trial ${trial}`).toEqual(referenceLate);
  }
  return { reference, referenceLate, metadata };
}

describe('replay after a crash', () => {
  it('stores the same feature rows and dead letters as an uninterrupted run, for every window type', () => {
    const { reference, referenceLate } = crashTrials(stream(3000, 11), rng(5));
    expect(new Set([...reference.values()].map((r) => r.featureSet))).toEqual(
      new Set(['tumbling', 'hopping', 'sessions']),
    );
    expect(referenceLate.size).toBeGreaterThan(10);
    // sessions really merged and really ended
    const sessions = [...reference.values()].filter((r) => r.featureSet === 'sessions');
    expect(sessions.length).toBeGreaterThan(30);
    expect(sessions.some((r) => r.recordCount > 20)).toBe(true);
  });

  it('does the same when closed windows leave over several batches', () => {
    // 100 users: a closed tumbling bucket holds more windows than a batch lets leave.
    // Crashes come soon after a commit, often while a bucket's windows are still leaving.
    const { reference, metadata } = crashTrials(stream(3000, 7, 100), rng(9), 3);
    expect(reference.size).toBeGreaterThan(500);
    // commits really listed closing buckets (so crashes fell while windows were still leaving)
    const closing = metadata.filter((m) => (JSON.parse(m) as { c?: object }).c !== undefined);
    expect(closing.length).toBeGreaterThan(metadata.length / 10);
  });

  it('closes windows on the idle timeout, and a replay from that commit keeps them closed', () => {
    const records = stream(400, 3);
    const lastOffset = records[records.length - 1]!.source.offset;
    const p = startProcess();
    const first = p.feed(records);
    const open = first.features.length;
    expect(p.feed([], undefined, { lastOffset, idleMs: 59_000 }).features).toEqual([]); // default 1m
    const idle = p.feed([], undefined, { lastOffset, idleMs: 60_000 });
    expect(idle.features.length).toBeGreaterThan(0);
    expect(new Set(idle.features.map((r) => r.featureSet)).size).toBe(3);
    expect(idle.commit.offset).toBe(BigInt(lastOffset) + 1n); // nothing open holds the commit back
    expect(open).toBeGreaterThan(0);

    // A new process from the idle tick's commit: a record for a window the timeout closed is late.
    const q = startProcess();
    expect(q.feed([], idle.commit.metadata, { lastOffset, idleMs: 0 }).features).toEqual([]);
    const again = { ...records[records.length - 1]!, source: { ...records[0]!.source, offset: '9999' } };
    const r = q.feed([again]);
    expect(r.late.filter((l) => l.startsWith('9999|late for feature set')).length).toBe(3);
  });
});
