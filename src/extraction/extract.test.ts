import { from, lastValueFrom, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createAck, type Batch, type DecodedRecord } from '../core/index.js';
import { configWithFeatures } from '../testing/config.js';
import { extractFeatures, type WindowCounts } from './extract.js';

/** One feature set: per user, hourly windows on the Kafka timestamp, counting. */
function config(over: Record<string, unknown> = {}) {
  return configWithFeatures([
    {
      name: 'f',
      entity: 'user',
      eventTime: '$timestamp',
      window: { type: 'tumbling', size: '1h' },
      aggregations: [{ name: 'n', fn: 'count' }],
      ...over,
    },
  ]);
}

function batch(users: string[]): Batch<DecodedRecord> {
  return {
    lane: { topic: 't', partition: 0 },
    ack: createAck().ack,
    firstOffset: '0',
    lastOffset: String(users.length - 1),
    records: users.map((user, i) => ({
      source: {
        topic: 't',
        partition: 0,
        offset: String(i),
        key: null,
        value: null,
        headers: {},
        timestamp: 1000 + i,
      },
      fields: { user },
    })),
    rejected: [],
    filtered: 0,
  };
}

/** `batch(users)` with the given Kafka headers on its records, in order. */
function withHeaders(users: string[], headers: Record<string, string>[]): Batch<DecodedRecord> {
  const b = batch(users);
  return {
    ...b,
    records: b.records.map((r, i) => ({ ...r, source: { ...r.source, headers: headers[i]! } })),
  };
}

/** Runs one batch through extraction; its dead letters as [offset, reason], and the window counts. */
async function extractOne(c: ReturnType<typeof config>, b: Batch<DecodedRecord>) {
  const open = new Map<string, WindowCounts>();
  const out = await lastValueFrom(from([b]).pipe(extractFeatures(c.output!.columns!, c.features, open)));
  return { rejected: out.rejected.map((r) => [r.source.offset, r.reason]), counts: open.get('f') };
}

describe('extractFeatures state ceiling', () => {
  it('dead-letters records that would open a window past the ceiling, with the reason', async () => {
    const c = config({ maxOpenWindows: 2, onLimit: 'dead-letter' });
    const open = new Map<string, WindowCounts>();
    const out = await lastValueFrom(
      from([batch(['a', 'b', 'c', 'a'])]).pipe(extractFeatures(c.output!.columns!, c.features, open)),
    );
    expect(out.records).toHaveLength(4); // the raw rows are still stored
    expect(out.rejected.map((r) => [r.source.offset, r.reason])).toEqual([
      ['2', 'feature set f: 2 open windows reached (maxOpenWindows)'],
    ]);
    expect(open.get('f')?.open).toBe(2);
  });

  it('reads the entity from a Kafka header for $header.<name>, naming a missing one', async () => {
    const c = config({ entity: '$header.tenant', maxOpenWindows: 5 });
    const { rejected, counts } = await extractOne(
      c,
      withHeaders(['u', 'u', 'u'], [{ tenant: 'x' }, { tenant: 'y' }, {}]),
    );
    expect(rejected).toEqual([['2', "feature set f: entity field '$header.tenant' is missing"]]);
    expect(counts?.open).toBe(2); // one window for x, one for y
  });

  it('reads the event time from a header: epoch milliseconds or ISO-8601', async () => {
    const c = config({ eventTime: '$header.ts', maxOpenWindows: 5 });
    const { rejected, counts } = await extractOne(
      c,
      withHeaders(['u', 'v', 'w'], [{ ts: '7200000' }, { ts: '1970-01-01T02:30:00Z' }, { ts: 'soon' }]),
    );
    expect(rejected).toEqual([
      [
        '2',
        "feature set f: event time field '$header.ts' is not epoch milliseconds or an ISO-8601 date-time",
      ],
    ]);
    expect(counts?.open).toBe(2);
  });

  it("reports the slowest lane's watermark per feature set", async () => {
    const c = config({ outOfOrderness: '1s' });
    const open = new Map<string, WindowCounts>();
    const lane1 = batch(['a']); // timestamp 1000
    const other = {
      ...lane1,
      lane: { topic: 't', partition: 1 },
      records: lane1.records.map((r) => ({ ...r, source: { ...r.source, partition: 1 } })),
    };
    await lastValueFrom(
      from([batch(['a', 'b', 'c', 'd']), other]).pipe(extractFeatures(c.output!.columns!, c.features, open)),
    );
    // Lane 0 reached 1003, lane 1 1000; the watermark trails by outOfOrderness.
    expect(open.get('f')?.watermark).toBe(1000 - 1000);
  });

  it('dead-letters a late record with the watermark it came too late for', async () => {
    const c = config({ window: { type: 'tumbling', size: '1s' } });
    const b = batch(['a', 'a', 'a']);
    const at = [5000, 7000, 3000];
    const late = {
      ...b,
      records: b.records.map((r, i) => ({ ...r, source: { ...r.source, timestamp: at[i]! } })),
    };
    expect((await extractOne(c, late)).rejected).toEqual([
      [
        '2',
        "late for feature set f: event time 1970-01-01T00:00:03.000Z is past its windows' end plus allowed lateness (watermark 1970-01-01T00:00:07.000Z)",
      ],
    ]);
  });

  it('fails with an error naming the feature set and what to change', async () => {
    const c = config({ maxOpenWindows: 2, onLimit: 'fail' });
    await expect(
      lastValueFrom(from([batch(['a', 'b', 'c'])]).pipe(extractFeatures(c.output!.columns!, c.features))),
    ).rejects.toMatchObject({
      kind: 'fatal',
      message:
        'feature set f: 2 open windows reached (maxOpenWindows); raise it, shorten the window, or set onLimit: dead-letter',
    });
  });
});

describe('extractFeatures across a rebalance', () => {
  it('drops the window state of every lane when a new group generation starts', async () => {
    const c = config();
    const open = new Map<string, WindowCounts>();
    const onLane = (partition: number, users: string[], generation?: number): Batch<DecodedRecord> => {
      const b = batch(users);
      return {
        ...b,
        lane: { topic: 't', partition },
        records: b.records.map((r) => ({ ...r, source: { ...r.source, partition } })),
        ...(generation !== undefined ? { resume: { metadata: null, generation } } : {}),
      };
    };
    await lastValueFrom(
      from([
        onLane(0, ['a', 'b'], 0),
        onLane(1, ['c', 'd', 'e'], 0),
        // Partition 1 was revoked: the next generation only brings partition 0 back.
        onLane(0, ['a'], 1),
      ]).pipe(extractFeatures(c.output!.columns!, c.features, open)),
    );
    expect(open.get('f')?.open).toBe(1); // only partition 0's rebuilt window; partition 1's are gone
  });
});

describe('extractFeatures told of a new generation', () => {
  it('frees every lane at once, without waiting for a batch (the process may have no partition left)', async () => {
    const c = config();
    const open = new Map<string, WindowCounts>();
    let tell: ((generation: number) => void) | undefined;
    await lastValueFrom(
      from([{ ...batch(['a', 'b', 'c']), resume: { metadata: null, generation: 1 } }]).pipe(
        extractFeatures(c.output!.columns!, c.features, open, (l) => (tell = l)),
      ),
    );
    expect(open.get('f')?.open).toBe(3);
    tell!(1); // the generation it already knows: nothing happens
    expect(open.get('f')?.open).toBe(3);
    tell!(2);
    expect(open.get('f')?.open).toBe(0);
  });
});

describe('extractFeatures lane order', () => {
  const numbered = (users: string[], seq: number, first: number): Batch<DecodedRecord> => {
    const b = batch(users);
    const records = b.records.map((r, i) => ({ ...r, source: { ...r.source, offset: String(first + i) } }));
    return {
      ...b,
      records,
      firstOffset: String(first),
      lastOffset: String(first + users.length - 1),
      seq,
    };
  };

  it('processes numbered batches in sequence, and refuses one whose predecessor never came', () => {
    const c = config();
    const extract = extractFeatures(c.output!.columns!, c.features);
    const seen: number[] = [];
    const errors: unknown[] = [];
    from([numbered(['a'], 0, 0), numbered(['b'], 1, 1), numbered(['c'], 3, 3)])
      .pipe(extract)
      .subscribe({ next: (b) => seen.push(b.seq!), error: (e: unknown) => errors.push(e) });
    expect(seen).toEqual([0, 1]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ kind: 'fatal', code: 'LANE_GAP' });
    expect((errors[0] as Error).message).toBe(
      'lane t/0: batch 3 arrived after a failed batch 2; not processed',
    );
  });
});

describe('extractFeatures writing closed windows', () => {
  it('writes a share per batch, holding the commit back, and the rest on a tick', () => {
    const c = config({ window: { type: 'tumbling', size: '1s' }, outOfOrderness: '0s' });
    const counts = new Map<string, WindowCounts>();
    const extract = extractFeatures(c.output!.columns!, c.features, counts);
    const out: { features: number; commit: bigint | undefined; held?: WindowCounts }[] = [];
    const input = new Subject<Batch<DecodedRecord>>();
    input
      .pipe(extract)
      .subscribe((b) =>
        out.push({ features: b.features?.length ?? 0, commit: undefined, held: counts.get('f') }),
      );
    const feed = (b: Batch<DecodedRecord>) => {
      const { ack, commit } = createAck();
      input.next({ ...b, ack });
      out[out.length - 1]!.commit = commit()?.offset;
    };
    // 1000 users in [1 s, 2 s), then a record at 2 s: the watermark closes all 1000 windows.
    feed(batch([...Array.from({ length: 1000 }, (_, i) => `u${i}`), 'z']));
    const empty = { ...batch([]), firstOffset: '1000', lastOffset: '1000' };
    feed(empty); // a batch whose records all went elsewhere: a 64th of those waiting
    feed({ ...empty, idleMs: 0 }); // a tick: the rest
    expect(out.map((o) => o.features)).toEqual([501, 8, 491]); // half of 1001; 499 / 64; the rest
    expect(out.map((o) => o.commit)).toEqual([0n, 0n, 1000n]); // then only z's window holds it
    expect(out.map((o) => o.held)).toEqual([
      { open: 500, closed: 499, watermark: 2000 },
      { open: 492, closed: 491, watermark: 2000 },
      { open: 1, closed: 0, watermark: 2000 },
    ]);
  });
});

describe('extractFeatures commits of a quiet lane', () => {
  it('asks for a new commit point when an idle tick closes windows, and repeats the last one when it closes none', () => {
    const c = config({
      window: { type: 'tumbling', size: '10s' },
      outOfOrderness: '0s',
      allowedLateness: '0s',
      idleTimeout: '1s',
    });
    const input = new Subject<Batch<DecodedRecord>>();
    const out: { features: number; commit?: { offset: bigint; metadata: string } }[] = [];
    input
      .pipe(extractFeatures(c.output!.columns!, c.features))
      .subscribe((b) => out.push({ features: b.features?.length ?? 0 }));
    const feed = (b: Batch<DecodedRecord>) => {
      const { ack, commit } = createAck();
      input.next({ ...b, ack });
      out[out.length - 1]!.commit = commit();
    };
    const t = (i: number) => (JSON.parse(out[i]!.commit!.metadata) as { t: { f: number } }).t.f;
    feed(batch(['a', 'b'])); // event times 1000 and 1001: one window [0 s, 10 s), open
    const tick = (idleMs: number) => feed({ ...batch([]), firstOffset: '1', lastOffset: '1', idleMs });
    tick(2000); // the idle clock runs to 3001: nothing closes
    tick(20_000); // to 21001: the windows of a and b close
    tick(25_000); // to 26001: nothing left to close
    expect(out.map((o) => [o.features, o.commit!.offset])).toEqual([
      [0, 0n],
      [0, 0n],
      [2, 2n],
      [0, 2n],
    ]);
    expect([t(0), t(1), t(2), t(3)]).toEqual([1001, 1001, 21001, 21001]);
    expect(out[3]!.commit).toEqual(out[2]!.commit);
  });
});

describe('extractFeatures commit metadata within Kafka limit', () => {
  /** `n` feature sets like config()'s, each with a 40-character name. */
  function manySets(n: number, over: Record<string, unknown> = {}) {
    const one = config(over).features[0]!;
    return Array.from({ length: n }, (_, i) => ({
      ...one,
      name: `feature_set_with_a_long_name_${String(i).padStart(11, '0')}`,
    }));
  }

  it('refuses feature sets whose metadata could pass offset.metadata.max.bytes, saying why', () => {
    const c = config();
    expect(() => extractFeatures(c.output!.columns!, manySets(60))).not.toThrow();
    expect(() => extractFeatures(c.output!.columns!, manySets(70))).toThrow(
      /70 feature sets need up to 4\d{3} bytes of commit metadata, over Kafka's 4096 \(offset\.metadata\.max\.bytes\)/,
    );
  });

  it('writes every closed window at once when listing the closing ones would pass it', () => {
    const over = { window: { type: 'tumbling', size: '1s' }, outOfOrderness: '0s' };
    const c = config(over);
    const run = (sets: number) => {
      const { ack, commit } = createAck();
      const out: number[] = [];
      // 1000 users in [1 s, 2 s), then z at 2 s: the watermark closes 1000 windows per set.
      from([{ ...batch([...Array.from({ length: 1000 }, (_, i) => `u${i}`), 'z']), ack }])
        .pipe(extractFeatures(c.output!.columns!, manySets(sets, over)))
        .subscribe((b) => out.push(b.features?.length ?? 0));
      return { features: out[0]!, metadata: commit()!.metadata, offset: commit()!.offset };
    };
    // Few sets: half of what the batch's 1001 records could open leaves (501), the rest are listed.
    const few = run(2);
    expect(few.features).toBe(2 * 501);
    expect(few.offset).toBe(0n);
    expect(Object.keys(JSON.parse(few.metadata).c)).toHaveLength(2);
    // 60 sets: listing 60 closing buckets would pass 4096 bytes, so all 1000 windows of each leave.
    const many = run(60);
    expect(many.features).toBe(60 * 1000);
    expect(many.metadata.length).toBeLessThanOrEqual(4096);
    expect(JSON.parse(many.metadata).c).toBeUndefined();
    expect(many.offset).toBe(1000n); // only z's windows hold the commit
  });
});

describe('extractFeatures output columns per topic', () => {
  it("projects each batch onto its topic's columns, and refuses a record by its own table's columns", async () => {
    const users = [{ name: 'user', type: 'String' }];
    const orders = [{ name: 'amount', type: 'Float64' }];
    const columnsFor = (topic: string) => (topic === 't' ? users : orders);
    const onTopic = (topic: string, fields: Record<string, unknown>[]): Batch<DecodedRecord> => {
      const b = batch(fields.map(() => 'u'));
      return {
        ...b,
        lane: { topic, partition: 0 },
        records: b.records.map((r, i) => ({ source: { ...r.source, topic }, fields: fields[i]! })),
      };
    };
    const out: Batch<unknown>[] = [];
    await new Promise<void>((done) =>
      from([
        onTopic('t', [{ user: 'a', amount: 1 }]),
        onTopic('orders', [{ user: 'b', amount: 2.5 }, { user: 'c' }]),
      ])
        .pipe(extractFeatures(columnsFor, []))
        .subscribe({ next: (b) => out.push(b), complete: done }),
    );
    expect(out.map((b) => b.records.map((r) => (r as { values: unknown }).values))).toEqual([
      [{ user: 'a' }],
      [{ amount: 2.5 }],
    ]);
    expect(out[1]!.rejected.map((r) => r.reason)).toEqual([
      "field 'amount': is missing (column amount Float64 is not Nullable)",
    ]);
  });
});
