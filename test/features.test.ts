import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig, type PipelineConfig } from '../src/config/index.js';
import { counterValue, createLogger } from '../src/core/index.js';
import { APPROX_DISTINCT_ERROR } from '../src/extraction/index.js';
import { createPipeline, type Pipeline } from '../src/pipeline/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, produceInOrder, waitFor } from './support/kafka.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'features-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PARTITIONS = 4;
const IDLE_PARTITION = 3;
const PER_PARTITION = 1500;
const BASE = Date.UTC(2026, 0, 1);

interface Event {
  user: string;
  item: string;
  amount: number;
  ts: number;
}

/** A deterministic stream: users spread over partitions, out-of-order and late events, an idle partition. */
function generate(): Map<number, Event[]> {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out = new Map<number, Event[]>();
  for (let p = 0; p < PARTITIONS; p++) {
    const events: Event[] = [];
    const n = p === IDLE_PARTITION ? 20 : PER_PARTITION; // the idle partition stops early
    for (let i = 0; i < n; i++) {
      let ts = BASE + i * 150 + Math.floor(rand() * 3000) - 1500; // out of order by up to 1.5 s
      if (i % 97 === 50) ts -= 30_000; // far behind: late beyond the allowed lateness
      if (i % 89 === 40) ts -= 4_000; // behind, but mostly within lateness
      events.push({
        user: `u${Math.floor(rand() * 12)}`,
        item: `i${Math.floor(rand() * 300)}`,
        amount: Math.round(rand() * 10000) / 100,
        ts,
      });
    }
    out.set(p, events);
  }
  return out;
}

const FEATURES = [
  {
    name: 'user_10s',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'tumbling', size: '10s' },
    outOfOrderness: '2s',
    allowedLateness: '3s',
    idleTimeout: '1s',
    aggregations: [
      { name: 'events', fn: 'count' },
      { name: 'revenue', fn: 'sum', field: 'amount' },
      { name: 'avg_amount', fn: 'avg', field: 'amount' },
      { name: 'min_amount', fn: 'min', field: 'amount' },
      { name: 'max_amount', fn: 'max', field: 'amount' },
      { name: 'var_amount', fn: 'variance', field: 'amount' },
      { name: 'sd_amount', fn: 'stddev', field: 'amount' },
      { name: 'items', fn: 'count_distinct', field: 'item' },
      { name: 'items_approx', fn: 'approx_count_distinct', field: 'item' },
      { name: 'first_item', fn: 'first', field: 'item' },
      { name: 'last_item', fn: 'last', field: 'item' },
      { name: 'per_second', fn: 'rate' },
    ],
  },
  {
    name: 'item_hop',
    entity: 'item',
    eventTime: 'ts',
    window: { type: 'hopping', size: '20s', step: '5s' },
    outOfOrderness: '1s',
    allowedLateness: '0s',
    idleTimeout: '1s',
    aggregations: [
      { name: 'events', fn: 'count' },
      { name: 'revenue', fn: 'sum', field: 'amount' },
    ],
  },
  {
    name: 'user_session',
    entity: 'user',
    eventTime: 'ts',
    window: { type: 'session', gap: '2s' },
    outOfOrderness: '2s',
    allowedLateness: '1s',
    idleTimeout: '1s',
    aggregations: [
      { name: 'events', fn: 'count' },
      { name: 'revenue', fn: 'sum', field: 'amount' },
      { name: 'avg_amount', fn: 'avg', field: 'amount' },
      { name: 'items_approx', fn: 'approx_count_distinct', field: 'item' },
      { name: 'first_item', fn: 'first', field: 'item' },
      { name: 'last_item', fn: 'last', field: 'item' },
      { name: 'per_second', fn: 'rate' },
    ],
  },
] as const;

type Spec = {
  name: string;
  entity: 'user' | 'item';
  size: number;
  step: number;
  ooo: number;
  lateness: number;
};
const SPECS: Spec[] = [
  { name: 'user_10s', entity: 'user', size: 10_000, step: 10_000, ooo: 2000, lateness: 3000 },
  { name: 'item_hop', entity: 'item', size: 20_000, step: 5_000, ooo: 1000, lateness: 0 },
];

/**
 * The oracle: a plain reference computation over each partition in offset order, written apart from
 * src/. Every partition ends idle, so with the idle timeout every window it still holds closes too.
 */
function oracle(stream: Map<number, Event[]>, spec: Spec) {
  const windows = new Map<
    string,
    { entity: string; start: number; partition: number; events: Event[]; maxOffset: number }
  >();
  const late = new Set<string>();
  const closed: typeof windows = new Map();
  for (const [p, events] of stream) {
    let maxTs = -Infinity;
    events.forEach((e, offset) => {
      const wm = maxTs - spec.ooo;
      let kept = false;
      for (
        let start = Math.floor(e.ts / spec.step) * spec.step;
        start + spec.size > e.ts;
        start -= spec.step
      ) {
        if (start + spec.size + spec.lateness <= wm) continue; // that window closed already
        const key = `${e[spec.entity]}|${start}|${p}`;
        const w = windows.get(key) ?? {
          entity: e[spec.entity],
          start,
          partition: p,
          events: [],
          maxOffset: offset,
        };
        w.events.push(e);
        w.maxOffset = offset;
        windows.set(key, w);
        kept = true;
      }
      if (!kept) late.add(`${p}/${offset}`);
      maxTs = Math.max(maxTs, e.ts);
    });
    for (const [key, w] of windows) if (w.partition === p) closed.set(key, w);
  }
  return { closed, late };
}

const SESSION = { gap: 2000, ooo: 2000, lateness: 1000 };

/** The session oracle: an entity's events less than the gap apart share a session; bridges merge. */
function sessionOracle(stream: Map<number, Event[]>) {
  type S = { entity: string; start: number; last: number; partition: number; offsets: number[] };
  const closed = new Map<string, S & { events: Event[]; maxOffset: number }>();
  const late = new Set<string>();
  for (const [p, events] of stream) {
    let maxTs = -Infinity;
    const open: S[] = [];
    events.forEach((e, offset) => {
      const wm = maxTs - SESSION.ooo;
      const live = open.filter((s) => s.last + SESSION.gap + SESSION.lateness > wm);
      const touching = live.filter(
        (s) => s.entity === e.user && e.ts < s.last + SESSION.gap && s.start < e.ts + SESSION.gap,
      );
      if (touching.length === 0 && e.ts + SESSION.gap + SESSION.lateness <= wm) late.add(`${p}/${offset}`);
      else {
        const merged: S = { entity: e.user, start: e.ts, last: e.ts, partition: p, offsets: [offset] };
        for (const s of touching) {
          merged.start = Math.min(merged.start, s.start);
          merged.last = Math.max(merged.last, s.last);
          merged.offsets.push(...s.offsets);
          open.splice(open.indexOf(s), 1);
        }
        open.push(merged);
      }
      maxTs = Math.max(maxTs, e.ts);
    });
    for (const s of open) {
      const offsets = s.offsets.sort((a, b) => a - b);
      const key = `${s.entity}|${s.start}|${s.last + SESSION.gap}|${p}`;
      closed.set(key, { ...s, events: offsets.map((o) => events[o]!), maxOffset: offsets.at(-1)! });
    }
  }
  return { closed, late };
}

/** Windows of one partition the oracle still holds open at the end of the stream. */
function oracleOpen(stream: Map<number, Event[]>, spec: Spec, partition: number): number {
  const events = stream.get(partition)!;
  const maxTs = Math.max(...events.map((e) => e.ts));
  const starts = new Set<string>();
  for (const e of events) {
    for (let start = Math.floor(e.ts / spec.step) * spec.step; start + spec.size > e.ts; start -= spec.step) {
      if (start + spec.size + spec.lateness > maxTs - spec.ooo) starts.add(`${e[spec.entity]}|${start}`);
    }
  }
  return starts.size;
}

function expectedValues(events: Event[], spec: Spec) {
  const amounts = events.map((e) => e.amount);
  const n = amounts.length;
  const mean = amounts.reduce((a, b) => a + b, 0) / n;
  const variance = amounts.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  const items = events.map((e) => e.item);
  return {
    events: n,
    revenue: amounts.reduce((a, b) => a + b, 0),
    avg_amount: mean,
    min_amount: Math.min(...amounts),
    max_amount: Math.max(...amounts),
    var_amount: variance,
    sd_amount: Math.sqrt(variance),
    items: new Set(items).size,
    first_item: items[0],
    last_item: items[n - 1],
    per_second: n / (spec.size / 1000),
  };
}

async function featureRowsWritten(pipeline: Pipeline): Promise<Map<string, number>> {
  const { values } = await pipeline.telemetry.featureRows.get();
  return new Map(values.map((v) => [String(v.labels.feature_set), v.value]));
}

async function runUntilStored(config: PipelineConfig, records: number, rows: Map<string, number>) {
  const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
  await pipeline.start();
  try {
    // Windows hold commits back (open windows), so wait for consumption rather than commits, then
    // for the idle timeout to close the windows every partition still holds.
    await waitFor(
      'every record consumed',
      async () => (await counterValue(pipeline.telemetry.recordsIn, 'ingestion')) >= records,
      120_000,
      250,
    );
    await waitFor(
      'every window closed by the idle timeout and written',
      async () => {
        const written = await featureRowsWritten(pipeline);
        return [...rows].every(([name, n]) => (written.get(name) ?? 0) >= n);
      },
      60_000,
      250,
    );
  } finally {
    await pipeline.stop(Date.now() + 30_000);
  }
  return pipeline;
}

// On the main thread, and on two worker threads that share the lanes (the default on more cores).
describe.each([{ workers: 0 }, { workers: 2 }])('windowed features, workers: $workers', ({ workers }) => {
  it('stores every feature row an independent computation gives, and dead-letters late records', async () => {
    const db = `feat_w${workers}`;
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('features');
    await createTopic(brokers, topic, PARTITIONS);
    const stream = generate();
    const byPartition = new Map<number, Message[]>();
    for (const [p, events] of stream) {
      byPartition.set(
        p,
        events.map((e) => ({
          key: e.user,
          value: JSON.stringify({ ...e, ts: new Date(e.ts).toISOString() }),
        })),
      );
    }
    await produceInOrder(brokers, topic, byPartition);
    const total = [...stream.values()].reduce((a, e) => a + e.length, 0);

    const config = validateConfig({
      kafka: { brokers: [brokers], groupId: uniqueName('g'), partitionsConsumedConcurrently: PARTITIONS },
      sources: [{ topics: [topic] }],
      workers,
      output: { database: db, table: 'events', columns: [{ name: 'user', type: 'String' }] },
      features: FEATURES,
      storage: { path: join(dir, 'chdb'), flushIntervalMs: 200 },
      http: { enabled: false },
    });
    const sessions = sessionOracle(stream);
    await runUntilStored(
      config,
      total,
      new Map([
        ...SPECS.map((spec) => [spec.name, oracle(stream, spec).closed.size] as const),
        ['user_session', sessions.closed.size],
      ]),
    );

    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const dead = await rows<{ _partition: number; _offset: unknown; reason: string }>(
        client,
        `SELECT _partition, _offset, reason FROM ${db}.events_dead_letters`,
      );
      for (const spec of SPECS) {
        const { closed, late } = oracle(stream, spec);
        const stored = await rows<Record<string, unknown>>(
          client,
          `SELECT *, toUnixTimestamp(window_start) * 1000 AS start_ms FROM ${db}.${spec.name} FINAL`,
        );
        expect(stored.length, `${spec.name}: rows`).toBe(closed.size);
        expect(closed.size).toBeGreaterThan(50);
        for (const r of stored) {
          const key = `${r.entity}|${r.start_ms}|${r.source_partition}`;
          const w = closed.get(key);
          expect(w, `${spec.name}: unexpected row ${key}`).toBeDefined();
          expect(Number(r.version)).toBe(w!.maxOffset);
          expect(Number(r.record_count)).toBe(w!.events.length);
          const want = expectedValues(w!.events, spec);
          expect(Number(r.events)).toBe(want.events);
          expect(r.revenue as number).toBeCloseTo(want.revenue, 6);
          if (spec.name === 'user_10s') {
            expect(r.avg_amount as number).toBeCloseTo(want.avg_amount, 6);
            expect([r.min_amount, r.max_amount]).toEqual([want.min_amount, want.max_amount]);
            expect(r.var_amount as number).toBeCloseTo(want.var_amount, 4);
            expect(r.sd_amount as number).toBeCloseTo(want.sd_amount, 6);
            expect(Number(r.items)).toBe(want.items);
            expect(Math.abs(Number(r.items_approx) - want.items)).toBeLessThanOrEqual(
              Math.max(1, 3 * APPROX_DISTINCT_ERROR * want.items),
            );
            expect([r.first_item, r.last_item]).toEqual([want.first_item, want.last_item]);
            expect(r.per_second as number).toBeCloseTo(want.per_second, 9);
          }
        }
        // The idle partition stopped early: its own watermark never closed its last windows; the
        // idle timeout did, and they are stored like the others.
        const idleOpen = oracleOpen(stream, spec, IDLE_PARTITION);
        expect(idleOpen).toBeGreaterThan(0);
        const storedIdle = stored.filter((r) => Number(r.source_partition) === IDLE_PARTITION).length;
        expect(storedIdle).toBe([...closed.values()].filter((w) => w.partition === IDLE_PARTITION).length);
        expect(storedIdle).toBeGreaterThanOrEqual(idleOpen);
        const deadLate = new Set(
          dead
            .filter((d) => d.reason.startsWith(`late for feature set ${spec.name}:`))
            .map((d) => `${d._partition}/${d._offset}`),
        );
        expect(deadLate, `${spec.name}: late records`).toEqual(late);
        expect(late.size).toBeGreaterThan(0);
      }

      // Sessions, to the millisecond, against the session oracle.
      const storedSessions = await rows<Record<string, unknown>>(
        client,
        `SELECT * FROM ${db}.user_session FINAL`,
      );
      expect(storedSessions.length, 'user_session: rows').toBe(sessions.closed.size);
      expect([...sessions.closed.values()].filter((s) => s.events.length >= 5).length).toBeGreaterThan(20);
      expect(sessions.closed.size).toBeGreaterThan(200);
      for (const r of storedSessions) {
        const key = `${r.entity}|${r.window_start_ms}|${r.window_end_ms}|${r.source_partition}`;
        const s = sessions.closed.get(key);
        expect(s, `user_session: unexpected row ${key}`).toBeDefined();
        expect(Number(r.version)).toBe(s!.maxOffset);
        const want = expectedValues(s!.events, SPECS[0]!);
        expect(Number(r.events)).toBe(want.events);
        expect(r.revenue as number).toBeCloseTo(want.revenue, 6);
        expect(r.avg_amount as number).toBeCloseTo(want.avg_amount, 6);
        expect(Math.abs(Number(r.items_approx) - want.items)).toBeLessThanOrEqual(
          Math.max(1, 3 * APPROX_DISTINCT_ERROR * want.items),
        );
        expect([r.first_item, r.last_item]).toEqual([want.first_item, want.last_item]);
        const seconds = (Number(r.window_end_ms) - Number(r.window_start_ms)) / 1000;
        expect(r.per_second as number).toBeCloseTo(want.events / seconds, 9);
      }
      const deadSessions = new Set(
        dead
          .filter((d) => d.reason.startsWith('late for feature set user_session:'))
          .map((d) => `${d._partition}/${d._offset}`),
      );
      expect(deadSessions, 'user_session: late records').toEqual(sessions.late);
      expect(sessions.late.size).toBeGreaterThan(0);

      // The merged view: one row per (entity, window) across partitions, from the partials.
      const { closed } = oracle(stream, SPECS[0]!);
      const merged = new Map<string, Event[]>();
      for (const w of closed.values())
        merged.set(`${w.entity}|${w.start}`, [...(merged.get(`${w.entity}|${w.start}`) ?? []), ...w.events]);
      const view = await rows<Record<string, unknown>>(
        client,
        `SELECT entity, toUnixTimestamp(window_start) * 1000 AS start_ms, events, revenue, avg_amount, var_amount, min_amount, max_amount FROM ${db}.user_10s_merged`,
      );
      expect(view.length).toBe(merged.size);
      let spread = 0;
      for (const r of view) {
        const events = merged.get(`${r.entity}|${r.start_ms}`)!;
        const want = expectedValues(events, SPECS[0]!);
        if (new Set(events.map((e) => e.ts)).size !== events.length) continue;
        spread++;
        expect(Number(r.events)).toBe(want.events);
        expect(r.revenue as number).toBeCloseTo(want.revenue, 6);
        expect(r.avg_amount as number).toBeCloseTo(want.avg_amount, 6);
        expect(r.var_amount as number).toBeCloseTo(want.var_amount, 4);
        expect([r.min_amount, r.max_amount]).toEqual([want.min_amount, want.max_amount]);
      }
      expect(spread).toBeGreaterThan(10);
    } finally {
      await client.close();
    }
  });
});
