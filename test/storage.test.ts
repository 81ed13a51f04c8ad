import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig, type ColumnConfig } from '../src/config/index.js';
import {
  counterValue,
  createLogger,
  createTelemetry,
  createAck,
  type Batch,
  type OutputRow,
  type RejectedRecord,
  type SourceRecord,
} from '../src/core/index.js';
import { planColumns, projectRecord } from '../src/extraction/index.js';
import {
  createClickHouseClient,
  createClickHouseSink,
  type ClickHouseSink,
  type ClientConfig,
  encodeRowBinary,
  rowBinaryInserter,
} from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';

const env = services();
const chdbDir = mkdtempSync(join(tmpdir(), 'storage-chdb-'));
afterAll(() => rmSync(chdbDir, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });
// The storage defaults the config schema fills in (batching, buffer, retry, circuit breaker).
const storageDefaults = validateConfig({
  kafka: { brokers: ['k:1'], groupId: 'g' },
  sources: [{ topics: ['t'] }],
  output: { table: 't', columns: [{ name: 'a', type: 'String' }] },
}).storage;
const defaults = { batching: storageDefaults, resilience: { ...storageDefaults, breakerFailures: 3 } };
/** A sink storing into one table of database st, its dead letters beside it; `extra` overrides. */
function tableSink(
  client: ClientConfig,
  table: string,
  columns: readonly ColumnConfig[],
  extra: Partial<Parameters<typeof createClickHouseSink>[0]> = {},
  telemetry = createTelemetry(),
): ClickHouseSink {
  return createClickHouseSink(
    {
      client,
      database: 'st',
      outputs: [{ table, columns }],
      deadLetterTable: `${table}_dead_letters`,
      ...defaults,
      ...extra,
    },
    { logger, telemetry },
  );
}

const columns: ColumnConfig[] = [
  { name: 'id', type: 'String' },
  { name: 'n', type: 'UInt16' },
];

function source(offset: number, value: string | Buffer | null = '{}'): SourceRecord {
  return {
    topic: 'orders',
    partition: 2,
    offset: String(offset),
    key: Buffer.from(`k${offset}`),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    headers: { trace: `t${offset}` },
    timestamp: 1_767_225_600_000 + offset,
  };
}

function batchOf(
  records: OutputRow[],
  rejected: RejectedRecord[] = [],
): { batch: Batch<OutputRow>; done: Promise<void> } {
  const handle = createAck();
  const batch: Batch<OutputRow> = {
    lane: { topic: 'orders', partition: 2 },
    ack: handle.ack,
    firstOffset: '0',
    lastOffset: '9',
    records,
    rejected,
    filtered: 0,
  };
  return { batch, done: handle.done };
}

/**
 * Starts a sink twice, storing the same values at offsets 0 and 1 each time: the second start finds
 * the table the first made. Each batch has its own span, or an engine that honours insert
 * deduplication tokens drops the second insert.
 */
async function storeInTwoStarts(makeSink: () => ClickHouseSink, values: OutputRow['values']): Promise<void> {
  for (let run = 0; run < 2; run++) {
    const sink = makeSink();
    await sink.start();
    const { batch, done } = batchOf([{ source: source(run), values }]);
    await sink.accept({ ...batch, firstOffset: String(run), lastOffset: String(run) });
    await sink.drain();
    await done;
    await sink.stop(Date.now() + 5000);
  }
}

// Both engines get rows in RowBinary: a server as an insert's body, chDB from a file.
const targets: { name: string; client: () => ClientConfig }[] = [
  {
    name: 'embedded chDB',
    client: () => ({ path: chdbDir, username: 'default', password: '', requestTimeoutMs: 30000 }),
  },
  {
    name: 'ClickHouse server',
    client: () => ({
      url: env.clickhouseUrl,
      path: '',
      username: 'default',
      password: '',
      requestTimeoutMs: 30000,
    }),
  },
];

describe.each(targets)('clickhouseSink on $name', ({ client: clientConfig }) => {
  it('stores good rows in RowBinary, isolates rows ClickHouse rejects, and dead-letters rejected records', async () => {
    const table = uniqueName('orders');
    // ClickHouse computes this column for every row it takes, and fails on id 'o7' (CANNOT_PARSE_TEXT),
    // whatever the format the row came in.
    const setup = await createClickHouseClient(clientConfig(), logger);
    await setup.command({ query: 'CREATE DATABASE IF NOT EXISTS st' });
    await setup.command({
      query:
        `CREATE TABLE st.${table} (_topic String, _partition UInt32, _offset UInt64, _timestamp_ms UInt64, ` +
        `_key Nullable(String), id String, n UInt16, checked UInt8 MATERIALIZED toUInt8(if(id = 'o7', 'x', '1'))) ` +
        `ENGINE = MergeTree ORDER BY (_topic, _partition, _offset)`,
    });
    await setup.close();
    const telemetry = createTelemetry();
    const sink = tableSink(clientConfig(), table, columns, {}, telemetry);
    await sink.start();
    const good = Array.from({ length: 9 }, (_, i): OutputRow => ({
      source: source(i),
      values: { id: `o${i}`, n: i },
    }));
    // Offset 5 carries a value our projection would have refused; here it reaches storage directly.
    // RowBinary's encoder refuses it (RowBinary has no parser on the other side to notice), and it
    // alone is dead-lettered; the sink splits the insert around 7, which ClickHouse refuses.
    good[5] = { source: source(5, '{"id":"o5","n":"many"}'), values: { id: 'o5', n: 'many' } };
    const undecodable: RejectedRecord = {
      source: source(9, Buffer.from([0xff, 0xfe, 0x00])),
      stage: 'ingestion',
      reason: 'invalid JSON: Unexpected token',
    };
    const { batch, done } = batchOf(good, [undecodable]);
    await sink.accept(batch);
    await sink.drain();
    await done;
    await sink.stop(Date.now() + 5000);

    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      const stored = await rows<{ _offset: unknown; id: string; n: number }>(
        client,
        `SELECT _offset, id, n FROM st.${table} ORDER BY _offset`,
      );
      expect(stored.map((r) => [Number(r._offset), r.id, r.n])).toEqual(
        [0, 1, 2, 3, 4, 6, 8].map((i) => [i, `o${i}`, i]),
      );
      const dead = await rows<Record<string, unknown>>(
        client,
        `SELECT _offset, _key, stage, reason, value, value_encoding, headers FROM st.${table}_dead_letters ORDER BY _offset`,
      );
      expect(dead.map((d) => [Number(d._offset), d._key, d.stage, d.value_encoding])).toEqual([
        [5, 'k5', 'storage', 'utf8'],
        [7, 'k7', 'storage', 'utf8'],
        [9, 'k9', 'ingestion', 'base64'],
      ]);
      expect(dead[0]!.reason).toMatch(/^column n: the string "many" is not a UInt16 value$/);
      expect(dead[0]!.value).toBe('{"id":"o5","n":"many"}');
      expect(dead[1]!.reason).toMatch(
        /^ClickHouse CANNOT_PARSE_TEXT \(code 6\): Cannot parse string 'x' as UInt8/,
      );
      expect(Buffer.from(dead[2]!.value as string, 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x00]));
      expect(JSON.parse(dead[2]!.headers as string)).toEqual({ trace: 't9' });
      expect(await counterValue(telemetry.recordsOut, 'storage')).toBe(7);
      expect(await counterValue(telemetry.recordsRejected, 'storage')).toBe(2);
      // Eight rows reached ClickHouse, refused whole; then 0-3 stored, 4, 6, 7, 8 refused; 4 and 6
      // stored, 7 and 8 refused; 7 refused alone, 8 stored: three inserts of rows, one of dead letters.
      const inserts = (await telemetry.inserts.get()).values.map((v) => [v.labels.table, v.value]);
      expect(inserts.sort()).toEqual([
        [`st.${table}`, 3],
        [`st.${table}_dead_letters`, 1],
      ]);
    } finally {
      await client.close();
    }
  });

  it("inserts a chunk of interleaved lanes' batches as one block already in the table's order, which ClickHouse need not sort", async () => {
    const table = uniqueName('sorted');
    const events = async (): Promise<{ blocks: number; sorted: number }> => {
      const c = await createClickHouseClient(clientConfig(), logger);
      try {
        const found = await rows<{ event: string; value: unknown }>(
          c,
          "SELECT event, value FROM system.events WHERE event LIKE 'MergeTreeDataWriterBlocks%'",
        );
        const at = (name: string) => Number(found.find((e) => e.event === name)?.value ?? 0);
        return {
          blocks: at('MergeTreeDataWriterBlocks'),
          sorted: at('MergeTreeDataWriterBlocksAlreadySorted'),
        };
      } finally {
        await c.close();
      }
    };
    const telemetry = createTelemetry();
    const sink = tableSink(clientConfig(), table, columns, {}, telemetry);
    await sink.start();
    const before = await events();
    // Partitions 3 and 1 of one topic, in the order the lanes' batches come: neither sorted by
    // partition nor by offset across batches, each in offset order within.
    const lanes: [number, number][] = [
      [3, 20],
      [1, 10],
      [3, 22],
      [1, 7],
    ];
    const acks: Promise<void>[] = [];
    for (const [partition, first] of lanes) {
      const { batch, done } = batchOf(
        [first, first + 1].map((o) => ({
          source: { ...source(o), partition },
          values: { id: `p${partition}o${o}`, n: o },
        })),
      );
      acks.push(done);
      await sink.accept({
        ...batch,
        lane: { topic: 'orders', partition },
        firstOffset: String(first),
        lastOffset: String(first + 1),
      });
    }
    await sink.drain();
    await Promise.all(acks);
    const after = await events();
    await sink.stop(Date.now() + 5000);
    const inserts = (await telemetry.inserts.get()).values.map((v) => [v.labels.table, v.value]);
    expect(inserts).toEqual([[`st.${table}`, 1]]);
    expect({ blocks: after.blocks - before.blocks, sorted: after.sorted - before.sorted }).toEqual({
      blocks: 1,
      sorted: 1,
    });
    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      const stored = await rows<{ id: string }>(client, `SELECT id FROM st.${table} ORDER BY id`);
      expect(stored.map((r) => r.id)).toEqual([
        'p1o10',
        'p1o11',
        'p1o7',
        'p1o8',
        'p3o20',
        'p3o21',
        'p3o22',
        'p3o23',
      ]);
    } finally {
      await client.close();
    }
  });

  it("stores each topic's rows in its own table in one chunk, isolating a bad row in the second, and dead-letters both tables' records in one table", async () => {
    const orders = uniqueName('orders');
    const clicks = uniqueName('clicks');
    const dlq = uniqueName('rejects');
    const clickColumns: ColumnConfig[] = [
      { name: 'url', type: 'String' },
      { name: 'ms', type: 'UInt32' },
    ];
    const telemetry = createTelemetry();
    const sink = createClickHouseSink(
      {
        client: clientConfig(),
        database: 'st',
        outputs: [
          { table: orders, columns },
          { table: clicks, columns: clickColumns },
        ],
        tableFor: (topic) => (topic === 'clicks' ? 1 : 0),
        deadLetterTable: dlq,
        ...defaults,
        // One chunk holds both batches: the insert of each table is built from its own rows.
        batching: { ...defaults.batching, flushIntervalMs: 60_000 },
      },
      { logger, telemetry },
    );
    await sink.start();
    const order = batchOf([0, 1].map((i) => ({ source: source(i), values: { id: `o${i}`, n: i } })));
    const onClicks = (i: number, ms: unknown): OutputRow => ({
      source: { ...source(i), topic: 'clicks' },
      values: { url: `/p${i}`, ms },
    });
    // Offset 11 has a value ClickHouse refuses for UInt32: it alone is dead-lettered.
    const click = batchOf([onClicks(10, 5), onClicks(11, 'slow'), onClicks(12, 7)]);
    await sink.accept(order.batch);
    await sink.accept({
      ...click.batch,
      lane: { topic: 'clicks', partition: 2 },
      firstOffset: '10',
      lastOffset: '12',
    });
    await sink.drain();
    await Promise.all([order.done, click.done]);
    await sink.stop(Date.now() + 5000);

    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      const inOrders = await rows<{ _topic: string; id: string }>(
        client,
        `SELECT _topic, id FROM st.${orders} ORDER BY id`,
      );
      expect(inOrders).toEqual([
        { _topic: 'orders', id: 'o0' },
        { _topic: 'orders', id: 'o1' },
      ]);
      const inClicks = await rows<{ _topic: string; url: string; ms: number }>(
        client,
        `SELECT _topic, url, ms FROM st.${clicks} ORDER BY url`,
      );
      expect(inClicks).toEqual([
        { _topic: 'clicks', url: '/p10', ms: 5 },
        { _topic: 'clicks', url: '/p12', ms: 7 },
      ]);
      const dead = await rows<{ _topic: string; _offset: unknown; stage: string }>(
        client,
        `SELECT _topic, _offset, stage FROM st.${dlq}`,
      );
      expect(dead.map((d) => [d._topic, Number(d._offset), d.stage])).toEqual([['clicks', 11, 'storage']]);
      expect(await counterValue(telemetry.recordsOut, 'storage')).toBe(4);
    } finally {
      await client.close();
    }
  });

  it('stores Array, UUID and LowCardinality columns (LowCardinality elements too) as projection converts them, and takes its own table again', async () => {
    const table = uniqueName('typed');
    const typed: ColumnConfig[] = [
      { name: 'id', type: 'UUID' },
      { name: 'maybe', type: 'Nullable(UUID)' },
      { name: 'tags', type: 'Array(String)' },
      { name: 'scores', type: 'Array(Nullable(Int64))' },
      { name: 'flags', type: 'Array(Bool)' },
      { name: 'seen', type: 'Array(DateTime)' },
      { name: 'country', type: 'LowCardinality(String)' },
      { name: 'region', type: 'LowCardinality(Nullable(String))' },
      { name: 'labels', type: 'Array(LowCardinality(String))' },
      // Text would be read in the column's timezone, nine hours off: the instant must go in as is.
      { name: 'tokyo', type: "DateTime('Asia/Tokyo')" },
    ];
    const record = {
      id: '61f0c404-5cb3-11e7-907b-a6006ad3dba0',
      tags: ['a', 'b "quoted"'],
      scores: [1, null, '9007199254740993'],
      flags: [true, false],
      seen: ['2026-01-01T00:00:05Z', 1767225606],
      country: 'NO',
      labels: ['web', 'web', 'ios'],
      tokyo: '2026-01-01T00:00:05Z',
    };
    const projected = projectRecord(planColumns(typed), record);
    if (!('values' in projected)) throw new Error(projected.reason);
    // The second start finds the table it made and must take it (types compared as ClickHouse names them).
    await storeInTwoStarts(() => tableSink(clientConfig(), table, typed), projected.values);
    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      const stored = await rows<Record<string, unknown>>(
        client,
        // 64-bit values as text: engines differ in quoting them in JSON, and a JS number drops digits.
        `SELECT toString(id) AS id, maybe, tags, arrayMap(x -> toString(x), scores) AS scores, flags, seen,
                country, region, toTypeName(country) AS country_type, labels, toTypeName(labels) AS labels_type,
                toUnixTimestamp(tokyo) AS tokyo_unix, toString(tokyo) AS tokyo_shown
         FROM st.${table} ORDER BY _offset`,
      );
      const expected = {
        id: '61f0c404-5cb3-11e7-907b-a6006ad3dba0',
        maybe: null,
        tags: ['a', 'b "quoted"'],
        scores: ['1', null, '9007199254740993'],
        flags: [1, 0],
        seen: ['2026-01-01 00:00:05', '2026-01-01 00:00:06'],
        country: 'NO',
        region: null,
        country_type: 'LowCardinality(String)',
        labels: ['web', 'web', 'ios'],
        labels_type: 'Array(LowCardinality(String))',
        tokyo_unix: 1767225605,
        tokyo_shown: '2026-01-01 09:00:05',
      };
      expect(stored).toEqual([expected, expected]);
    } finally {
      await client.close();
    }
  });

  it('adds declared columns an existing table lacks with addColumns, and otherwise refuses it, saying so', async () => {
    const table = uniqueName('grown');
    const grown: ColumnConfig[] = [
      ...columns,
      { name: 'note', type: 'Nullable(String)' },
      { name: 'tags', type: 'Array(LowCardinality(String))' },
    ];
    const sink = (cols: readonly ColumnConfig[], addColumns?: boolean) =>
      tableSink(clientConfig(), table, cols, { addColumns });
    await storeInTwoStarts(() => sink(columns), { id: 'old', n: 1 });
    const refused = sink(grown);
    await expect(refused.start()).rejects.toMatchObject({
      code: 'TABLE_MISMATCH',
      message: expect.stringMatching(
        /column note is missing \(expected Nullable\(String\)\); column tags is missing .*, or set output\.addColumns: true to add the missing ones\.$/,
      ),
    });
    await refused.stop(Date.now() + 5000);

    const grows = sink(grown, true);
    await grows.start();
    const { batch, done } = batchOf([
      { source: source(7), values: { id: 'new', n: 2, note: 'hi', tags: ['a'] } },
    ]);
    await grows.accept({ ...batch, firstOffset: '7', lastOffset: '7' });
    await grows.drain();
    await done;
    await grows.stop(Date.now() + 5000);
    // A second start with addColumns finds nothing to add.
    await storeInTwoStarts(() => sink(grown, true), { id: 'again', n: 3, note: null, tags: [] });
    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      expect(
        await rows(client, `SELECT id, note, tags FROM st.${table} WHERE id IN ('old', 'new') ORDER BY id`),
      ).toEqual([
        { id: 'new', note: 'hi', tags: ['a'] },
        { id: 'old', note: null, tags: [] },
        { id: 'old', note: null, tags: [] },
      ]);
    } finally {
      await client.close();
    }
  });

  it('refuses insert settings the engine does not know, naming them, before any insert', async () => {
    const sink = tableSink(clientConfig(), uniqueName('settings'), columns, {
      insertSettings: { max_insert_block_size: 1000, insert_quorom: 2 },
    });
    await expect(sink.start()).rejects.toMatchObject({
      kind: 'fatal',
      code: 'UNKNOWN_SETTING',
      message: expect.stringMatching(
        /\(ClickHouse [\d.]+\) has no setting storage\.insertSettings\.insert_quorom$/,
      ),
    });
    await sink.stop(Date.now() + 5000);
  });

  it('sends insert settings with every insert (readonly: 1, and ClickHouse refuses the insert)', async () => {
    const sink = tableSink(clientConfig(), uniqueName('readonly'), columns, {
      insertSettings: { readonly: 1 },
    });
    await sink.start();
    const { batch, done } = batchOf([{ source: source(0), values: { id: 'x', n: 1 } }]);
    await sink.accept(batch);
    await expect(done).rejects.toMatchObject({ kind: 'fatal', code: 'READONLY' });
    await sink.stop(Date.now() + 5000);
  });

  it("keeps a key twice within one insert (no merge on insert where the engine has one), unless the user's insert settings ask for it", async () => {
    const count = async (table: string) => {
      const client = await createClickHouseClient(clientConfig(), logger);
      try {
        const [r] = await rows<{ n: string }>(client, `SELECT count() AS n FROM st.${table}`);
        return Number(r!.n);
      } finally {
        await client.close();
      }
    };
    /** Two rows with one key (_topic, _partition, _offset) in one batch, stored by a sink with `extra`. */
    const storeTwice = async (table: string, extra: Parameters<typeof tableSink>[3] = {}) => {
      const sink = tableSink(clientConfig(), table, columns, extra);
      await sink.start();
      try {
        const { batch, done } = batchOf([
          { source: source(5), values: { id: 'first', n: 1 } },
          { source: source(5), values: { id: 'second', n: 2 } },
        ]);
        await sink.accept(batch);
        await sink.drain();
        await done;
        return sink.capabilities()!;
      } finally {
        await sink.stop(Date.now() + 5000);
      }
    };
    const plain = uniqueName('on_insert');
    const caps = await storeTwice(plain);
    // A plain SELECT sees both: the insert did not collapse them (18.16 never does).
    expect(await count(plain)).toBe(2);
    if (caps.optimizeOnInsert) {
      const asked = uniqueName('on_insert_asked');
      await storeTwice(asked, { insertSettings: { optimize_on_insert: 1 } });
      expect(await count(asked)).toBe(1);
    } else expect(caps.version).toMatch(/^18\./);
  });

  it("creates its tables with its engine's MergeTree settings: vertical merges in the embedded engine, ClickHouse's defaults on a server", async () => {
    const table = uniqueName('table_settings');
    const sink = tableSink(clientConfig(), table, columns);
    await sink.start();
    const embedded = !clientConfig().url;
    await sink.stop(Date.now() + 5000);
    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      for (const name of [table, `${table}_dead_letters`]) {
        const [r] = await rows<{ statement: string }>(client, `SHOW CREATE TABLE st.${name}`);
        const vertical = /vertical_merge_algorithm_min_rows_to_activate = 1\b/.test(r!.statement);
        const columnsToo = /vertical_merge_algorithm_min_columns_to_activate = 1\b/.test(r!.statement);
        expect([name, vertical, columnsToo]).toEqual([name, embedded, embedded]);
      }
    } finally {
      await client.close();
    }
  });

  it('refuses an existing table that does not fit, naming the column', async () => {
    const table = uniqueName('clash');
    const client = await createClickHouseClient(clientConfig(), logger);
    try {
      await client.command({ query: 'CREATE DATABASE IF NOT EXISTS st' });
      await client.command({
        query: `CREATE TABLE st.${table} (_topic String, _partition UInt32, _offset UInt64, _timestamp_ms UInt64,
                _key Nullable(String), id String, n String) ENGINE = MergeTree ORDER BY _offset`,
      });
    } finally {
      await client.close();
    }
    const sink = tableSink(clientConfig(), table, columns);
    await expect(sink.start()).rejects.toMatchObject({
      kind: 'fatal',
      code: 'TABLE_MISMATCH',
      message: expect.stringContaining(
        `existing table st.${table} does not fit the output definition: column n is String, expected UInt16`,
      ),
    });
    await sink.stop(Date.now() + 5000);
  });
});

describe('RowBinary into the embedded engine, through a file', () => {
  it('stores a retried insert once by its token, leaves no file behind, stored or refused, and removes what a dead process left', async () => {
    const config = { path: chdbDir, username: 'default', password: '', requestTimeoutMs: 30000 };
    const client = await createClickHouseClient(config, logger);
    // What a crashed process left between writing a file and deleting it; and a running one's folder.
    const root = join(chdbDir, 'user_files', 'inserts');
    const gone = spawnSync(process.execPath, [
      '-e',
      'process.stdout.write(String(process.pid))',
    ]).stdout.toString();
    mkdirSync(join(root, `${gone}-crashed`), { recursive: true });
    writeFileSync(join(root, `${gone}-crashed`, '0.bin'), 'rows');
    mkdirSync(join(root, `${process.ppid}-running`), { recursive: true });
    const table = `st.${uniqueName('file_insert')}`;
    try {
      await client.command({ query: 'CREATE DATABASE IF NOT EXISTS st' });
      await client.command({
        query: `CREATE TABLE ${table} (id String, at DateTime('Asia/Tokyo')) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
      });
      const insert = rowBinaryInserter(client, config);
      const folders = readdirSync(root);
      expect(folders).not.toContain(`${gone}-crashed`);
      expect(folders).toContain(`${process.ppid}-running`);
      const own = folders.find((f) => f.startsWith(`${process.pid}-`))!;
      const columns = [
        { name: 'id', type: 'String' },
        // A quote in the structure the file is read with.
        { name: 'at', type: "DateTime('Asia/Tokyo')" },
      ];
      const block = encodeRowBinary(columns, [
        { id: "it's", at: 0 },
        { id: 'b', at: 86_400 },
      ]);
      for (const token of ['t1', 't1', 't2'])
        await insert({
          table,
          columns,
          blocks: [block],
          clickhouse_settings: { insert_deduplication_token: token },
        });
      const stored = await rows<{ id: string; at: string }>(
        client,
        `SELECT id, toString(at, 'UTC') AS at FROM ${table} ORDER BY id, at`,
      );
      expect(stored).toEqual([
        { id: 'b', at: '1970-01-02 00:00:00' },
        { id: 'b', at: '1970-01-02 00:00:00' },
        { id: "it's", at: '1970-01-01 00:00:00' },
        { id: "it's", at: '1970-01-01 00:00:00' },
      ]);
      await expect(insert({ table: `${table}_missing`, columns, blocks: [block] })).rejects.toThrow(
        /UNKNOWN_TABLE|does not exist/,
      );
      expect(readdirSync(join(root, own))).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('the embedded engine', () => {
  it('starts with its server settings (8 idle threads kept, not 1,000), and a second client shares it', async () => {
    const config = { path: chdbDir, username: 'default', password: '', requestTimeoutMs: 30000 };
    const first = await createClickHouseClient(config, logger);
    const second = await createClickHouseClient(config, logger);
    try {
      for (const client of [first, second])
        expect(
          await rows<{ value: string }>(
            client,
            "SELECT value FROM system.server_settings WHERE name = 'max_thread_pool_free_size'",
          ),
        ).toEqual([{ value: '8' }]);
    } finally {
      await second.close();
    }
    // The first client still queries once the second has closed.
    try {
      expect(await rows<{ one: number }>(first, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await first.close();
    }
  });
});

describe('DateTime64, Decimal and Map columns (current engines)', () => {
  const timed: ColumnConfig[] = [
    { name: 'at_ms', type: 'DateTime64(3)' },
    { name: 'at_us', type: 'Nullable(DateTime64(6))' },
    { name: 'price', type: 'Decimal(10,2)' },
    { name: 'exact', type: 'Decimal(38, 20)' },
    { name: 'props', type: 'Map(String,Nullable(Int64))' },
    { name: 'counts', type: 'Map(LowCardinality(String),UInt32)' },
    { name: 'at_tokyo', type: "DateTime64(6,'Asia/Tokyo')" },
    { name: 'by_id', type: 'Map(UInt64,String)' },
  ];
  const sinkOn = (client: ClientConfig, table: string) => tableSink(client, table, timed);

  it('stores milliseconds, microseconds, every digit of a decimal, and a map in the embedded engine', async () => {
    const table = uniqueName('timed');
    const projected = projectRecord(planColumns(timed), {
      at_ms: '2026-01-01T00:00:05.123Z',
      at_us: '2026-01-01T00:00:05.123456Z',
      price: 19.99,
      exact: '-12345678901234567.12345678901234567891',
      props: { clicks: 3, big: '9007199254740993', none: null },
      counts: { web: 2 },
      at_tokyo: '2026-01-01T00:00:05.123456Z',
      by_id: { '18446744073709551615': 'max' },
    });
    if (!('values' in projected)) throw new Error(projected.reason);
    // The second start takes the table it made: Decimal(10,2) is Decimal(10, 2) to ClickHouse.
    await storeInTwoStarts(() => sinkOn(targets[0]!.client(), table), projected.values);
    const client = await createClickHouseClient(targets[0]!.client(), logger);
    try {
      const expected = {
        ms: '2026-01-01 00:00:05.123',
        us: '2026-01-01 00:00:05.123456',
        t: 'DateTime64(3)',
        price: '19.99',
        exact: '-12345678901234567.12345678901234567891',
        clicks: '3',
        big: '9007199254740993',
        keys: ['clicks', 'big', 'none'],
        web: 2,
        counts_type: 'Map(LowCardinality(String), UInt32)',
        tokyo_us: '1767225605123456',
        tokyo_shown: '2026-01-01 09:00:05.123456',
        max: 'max',
        by_id_type: 'Map(UInt64, String)',
      };
      expect(
        await rows(
          client,
          `SELECT toString(at_ms) AS ms, toString(at_us) AS us, toTypeName(at_ms) AS t,
                  toString(price) AS price, toString(exact) AS exact,
                  toString(props['clicks']) AS clicks, toString(props['big']) AS big, mapKeys(props) AS keys,
                  counts['web'] AS web, toTypeName(counts) AS counts_type,
                  toString(toUnixTimestamp64Micro(at_tokyo)) AS tokyo_us, toString(at_tokyo) AS tokyo_shown,
                  by_id[18446744073709551615] AS max, toTypeName(by_id) AS by_id_type
           FROM st.${table} ORDER BY _offset`,
        ),
      ).toEqual([expected, expected]);
    } finally {
      await client.close();
    }
  });

  it('refuses to start on a server without DateTime64 and Map (18.16), naming the columns (its Decimal columns are taken)', async () => {
    const sink = sinkOn(targets[1]!.client(), uniqueName('timed'));
    await expect(sink.start()).rejects.toMatchObject({
      kind: 'fatal',
      code: 'UNSUPPORTED_TYPE',
      message: expect.stringMatching(
        new RegExp(
          [
            String.raw`\(ClickHouse 18\.16\.\d+\) cannot store column at_ms DateTime64\(3\): no DateTime64 before ClickHouse 20\.1; declare DateTime \(seconds\)`,
            String.raw`; column at_us Nullable\(DateTime64\(6\)\): .*`,
            String.raw`; column props Map\(String,Nullable\(Int64\)\): no Map before ClickHouse 21\.1; declare String and send JSON text`,
            String.raw`; column counts Map\(LowCardinality\(String\),UInt32\): .*`,
            String.raw`; column by_id Map\(UInt64,String\): no Map before ClickHouse 21\.1; declare String and send JSON text\. Or use a newer server\.$`,
          ].join(''),
        ),
      ),
    });
    await sink.stop(Date.now() + 5000);
  });
});

describe('Decimal columns on ClickHouse 18.16', () => {
  it('stores every digit through RowBinary, where JSON numbers could not carry them', async () => {
    const table = uniqueName('decimals');
    const decimals: ColumnConfig[] = [
      { name: 'price', type: 'Decimal(9, 2)' },
      { name: 'exact', type: 'Decimal(38, 20)' },
      { name: 'maybe', type: 'Nullable(Decimal(18, 4))' },
      { name: 'parts', type: 'Array(Decimal(18, 4))' },
    ];
    const projected = [
      { price: 19.99, exact: '-12345678901234567.12345678901234567891', maybe: null, parts: [] },
      { price: '-0.01', exact: '0.00000000000000000001', maybe: '12345678901234.5678', parts: [1.5, '-2'] },
    ].map((r) => {
      const p = projectRecord(planColumns(decimals), r);
      if (!('values' in p)) throw new Error(p.reason);
      return p.values;
    });
    const sink = tableSink(targets[1]!.client(), table, decimals);
    await sink.start();
    const { batch, done } = batchOf(projected.map((values, i) => ({ source: source(i), values })));
    await sink.accept(batch);
    await sink.drain();
    await done;
    await sink.stop(Date.now() + 5000);
    const client = await createClickHouseClient(targets[1]!.client(), logger);
    try {
      expect(
        await rows(
          client,
          // Aliases of their own: an alias named as a column would stand for it in toTypeName.
          `SELECT toString(price) AS p, toString(exact) AS e, toString(maybe) AS m,
                  arrayMap(x -> toString(x), parts) AS ps, toTypeName(exact) AS t
           FROM st.${table} ORDER BY _offset`,
        ),
      ).toEqual([
        { p: '19.99', e: '-12345678901234567.12345678901234567891', m: null, ps: [], t: 'Decimal(38, 20)' },
        {
          p: '-0.01',
          e: '0.00000000000000000001',
          m: '12345678901234.5678',
          ps: ['1.5000', '-2.0000'],
          t: 'Decimal(38, 20)',
        },
      ]);
    } finally {
      await client.close();
    }
  });
});

describe('clickhouseSink without a reachable server', () => {
  it('fails to start with a message naming the target', async () => {
    const sink = tableSink(
      { url: 'http://127.0.0.1:1', path: '', username: 'default', password: '', requestTimeoutMs: 2000 },
      't',
      columns,
    );
    await expect(sink.start()).rejects.toThrow(
      /^cannot reach ClickHouse \(server http:\/\/127\.0\.0\.1:1\): ClickHouse: .*ECONNREFUSED/,
    );
    await sink.stop(Date.now() + 1000);
  });
});
