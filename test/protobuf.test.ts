import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { createLogger } from '../src/core/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { createTopic } from './support/kafka.js';
import { runUntilCaughtUp } from './support/pipeline.js';
import { testTool } from './support/tools.js';

const env = services();
const ROOT = resolve(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'protobuf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Line = { type: string; key: string; value: object; plain?: boolean } | { raw: string; key: string };

/**
 * Produces with Confluent's own Python client and Protobuf serializer (confluent-kafka, installed by
 * scripts/test-tools.sh into .services/python): a third party writes the wire format and registers
 * the schemas, with test/fixtures/protobuf/money.proto as a reference of order.proto.
 */
function produceWithConfluentPython(topic: string, lines: Line[]): void {
  execFileSync(
    testTool('python'),
    [
      join(ROOT, 'test/support/protobuf_produce.py'),
      join(ROOT, 'test/fixtures/protobuf'),
      'order.proto',
      env.kafkaBrokers!,
      env.registryUrl!,
      topic,
    ],
    {
      input: lines.map((l) => JSON.stringify(l)).join('\n'),
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
}

describe('Protobuf sources', () => {
  it('stores what Confluent’s Python serializer wrote: nested and imported types, well-known types, 64-bit ids', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('pb_orders');
    await createTopic(brokers, topic, 2);
    const base = Date.parse('2026-11-28T12:00:00Z');
    const orders: Line[] = Array.from({ length: 100 }, (_, i) => ({
      type: 'Order',
      key: `u-${i % 7}`,
      value: {
        orderId: `o-${i}`,
        customer: { userId: `u-${i % 7}`, country: i % 2 ? 'DE' : 'FR' },
        quantity: String(i + 1),
        total: { currency: 'EUR', amount: i + 0.25 },
        createdAt: new Date(base + i * 1000).toISOString(),
        status: i % 3 === 0 ? 'SHIPPED' : 'PAID',
        tags: ['x', `t${i}`],
        gift: i % 4 === 0,
        ...(i % 5 === 0 ? { coupon: `C${i}` } : {}),
        bigId: (18446744073709551615n - BigInt(i)).toString(),
        items: [{ sku: `sku-${i}`, quantity: 1 }],
      },
    }));
    // A nested type (message indexes [1, 0]) on the same topic, and two values the decoder must refuse.
    const items: Line[] = Array.from({ length: 5 }, (_, i) => ({
      type: 'Order.LineItem',
      key: `item-${i}`,
      value: { sku: `loose-${i}`, quantity: 10 + i, price: { currency: 'USD', amount: 2 } },
    }));
    const refused: Line[] = [
      { raw: Buffer.from('{"orderId":"json-by-mistake"}').toString('hex'), key: 'bad-1' },
      { raw: '00000f423f00', key: 'bad-2' }, // schema id 999999, index [0]
    ];
    produceWithConfluentPython(topic, [...orders, ...items, ...refused]);
    // A second source: plain Protobuf (no registry), one message type, read with the .proto file.
    const plainTopic = uniqueName('pb_plain');
    await createTopic(brokers, plainTopic, 1);
    produceWithConfluentPython(plainTopic, [
      ...[0, 1, 2].map((i) => ({
        type: 'Order',
        plain: true,
        key: `plain-${i}`,
        value: { orderId: `plain-${i}`, quantity: String(-i), status: 'PAID', bigId: '9007199254740993' },
      })),
      { raw: 'ffff', key: 'bad-3' },
    ]);

    const config = validateConfig(
      {
        kafka: { brokers: [brokers], groupId: uniqueName('g'), partitionsConsumedConcurrently: 2 },
        sources: [
          { topics: [topic], format: 'protobuf', protobuf: { registry: { url: env.registryUrl } } },
          {
            topics: [plainTopic],
            format: 'protobuf',
            protobuf: {
              schemaFile: join(ROOT, 'test/fixtures/protobuf/order.proto'),
              messageType: 'shop.v1.Order',
            },
          },
        ],
        output: {
          database: 'protobuf',
          table: 'orders',
          columns: [
            { name: 'order_id', type: 'Nullable(String)' },
            { name: 'user_id', type: 'Nullable(String)', field: 'customer.user_id' },
            { name: 'quantity', type: 'Int64' },
            { name: 'amount', type: 'Nullable(Float64)', field: 'total.amount' },
            { name: 'created_at', type: 'Nullable(DateTime)' },
            { name: 'status', type: 'Nullable(String)' },
            { name: 'gift', type: 'Nullable(Bool)' },
            { name: 'coupon', type: 'Nullable(String)' },
            { name: 'big_id', type: 'Nullable(UInt64)' },
            { name: 'sku', type: 'Nullable(String)' },
          ],
        },
        storage: { path: join(dir, 'chdb') },
        http: { enabled: false },
      },
      {},
      join(dir, 'pipeline.yaml'),
    );
    await runUntilCaughtUp(config, [topic, plainTopic]);

    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<Record<string, unknown>>(
        client,
        `SELECT order_id, user_id, quantity, amount, toString(created_at) AS created_at, status, gift, coupon,
                toString(big_id) AS big_id, sku
         FROM protobuf.orders`,
      );
      expect(stored.length).toBe(108);
      const byOrder = new Map(stored.map((r) => [r.order_id ?? r.sku, r]));
      expect(byOrder.get('o-0')).toEqual({
        order_id: 'o-0',
        user_id: 'u-0',
        quantity: 1,
        amount: 0.25,
        created_at: '2026-11-28 12:00:00',
        status: 'SHIPPED',
        gift: 1,
        coupon: 'C0',
        big_id: '18446744073709551615',
        sku: null, // Order has no such field
      });
      expect(byOrder.get('o-61')).toMatchObject({
        user_id: 'u-5',
        quantity: 62,
        created_at: '2026-11-28 12:01:01',
        status: 'PAID',
        gift: 0,
        coupon: null, // unset google.protobuf.StringValue
        big_id: '18446744073709551554',
      });
      // The nested type decoded as itself: its int64-free fields, proto3 defaults for the rest.
      expect(byOrder.get('loose-3')).toEqual({
        order_id: null,
        user_id: null,
        quantity: 13,
        amount: null,
        created_at: null,
        status: null,
        gift: null,
        coupon: null,
        big_id: null,
        sku: 'loose-3',
      });

      expect(byOrder.get('plain-2')).toMatchObject({
        quantity: -2,
        status: 'PAID',
        big_id: '9007199254740993', // past 2^53, exact
        created_at: null,
      });

      const dead = await rows<{ _key: string; stage: string; reason: string }>(
        client,
        'SELECT _key, stage, reason FROM protobuf.orders_dead_letters ORDER BY _key',
      );
      expect(dead).toEqual([
        {
          _key: 'bad-1',
          stage: 'ingestion',
          reason: expect.stringMatching(
            /^not in the Confluent wire format: expected magic byte 0x00.* got 0x7b/,
          ),
        },
        { _key: 'bad-2', stage: 'ingestion', reason: 'schema id 999999 is not in the schema registry' },
        {
          _key: 'bad-3',
          stage: 'ingestion',
          reason: expect.stringMatching(/^invalid Protobuf for shop\.v1\.Order: /),
        },
      ]);
    } finally {
      await client.close();
    }
  });
});
