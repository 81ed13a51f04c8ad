import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { createLogger } from '../src/core/index.js';
import { createSchemaRegistry } from '../src/ingestion/schemaRegistry.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, kafkaClient } from './support/kafka.js';
import { runUntilCaughtUp } from './support/pipeline.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'avro-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const v1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'double' },
  ],
};
// v2 adds fields with defaults: a backward-compatible change. No column reads `note`, so the
// decoders skip it and read v1 and v2 values into a record of the other three (defaults filled).
const v2 = {
  ...v1,
  fields: [
    ...v1.fields,
    { name: 'note', type: 'string', default: '' },
    { name: 'currency', type: 'string', default: 'EUR' },
  ],
};

describe('Avro sources', () => {
  it('decodes v1 and v2 records from a registry-aware producer: v2 fields downstream, v1 gets the default', async () => {
    const brokers = env.kafkaBrokers!;
    const registryTopic = uniqueName('avro_orders');
    const fileTopic = uniqueName('avro_plain');
    await createTopic(brokers, registryTopic, 2);
    await createTopic(brokers, fileTopic, 1);

    // A third-party, registry-aware client registers the schemas and encodes the wire format.
    const registry = new SchemaRegistry({ host: env.registryUrl! });
    const subject = `${registryTopic}-value`;
    const { id: id1 } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject },
    );
    const producer = kafkaClient(brokers).producer();
    await producer.connect();
    const send = async (topic: string, values: Buffer[]) =>
      producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
    await send(
      registryTopic,
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => registry.encode(id1, { id: `v1-${i}`, amount: i + 0.5 })),
      ),
    );
    const { id: id2 } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v2) },
      { subject },
    );
    expect(id2).not.toBe(id1);
    await send(
      registryTopic,
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          registry.encode(id2, {
            id: `v2-${i}`,
            amount: i,
            note: `a note ${i}`,
            currency: i % 2 ? 'NOK' : 'SEK',
          }),
        ),
      ),
    );
    // Records the decoder must refuse, each with its reason.
    const unknownId = Buffer.concat([Buffer.from([0, 0, 0x0f, 0x42, 0x3f]), Buffer.from([2, 0x61])]);
    await send(registryTopic, [Buffer.from('{"id":"json-by-mistake"}'), unknownId]);

    // A second source: plain Avro binary with a schema file, on a topic named in a list.
    writeFileSync(join(dir, 'order.avsc'), JSON.stringify(v2));
    const plain = avro.Type.forSchema(v2 as avro.Schema);
    await send(fileTopic, [
      plain.toBuffer({ id: 'file-0', amount: 7, note: 'n', currency: 'DKK' }),
      Buffer.from([0xff]),
    ]);
    await producer.disconnect();

    const config = validateConfig(
      {
        kafka: { brokers: [brokers], groupId: uniqueName('g'), partitionsConsumedConcurrently: 3 },
        sources: [
          {
            topicPattern: `^${registryTopic}$`,
            format: 'avro',
            avro: { registry: { url: env.registryUrl, readerSchema: 'latest' } },
          },
          { topics: [fileTopic], format: 'avro', avro: { schemaFile: 'order.avsc' } },
        ],
        output: {
          database: 'avro',
          table: 'orders',
          columns: [
            { name: 'id', type: 'String' },
            { name: 'amount', type: 'Float64' },
            { name: 'currency', type: 'String' },
          ],
        },
        storage: { path: join(dir, 'chdb') },
        http: { enabled: false },
      },
      {},
      join(dir, 'pipeline.yaml'),
    );
    await runUntilCaughtUp(config, [registryTopic, fileTopic]);

    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<{ id: string; amount: number; currency: string }>(
        client,
        'SELECT id, amount, currency FROM avro.orders ORDER BY id',
      );
      const byId = new Map(stored.map((r) => [r.id, r]));
      expect(stored.length).toBe(401);
      for (let i = 0; i < 200; i++) {
        expect(byId.get(`v1-${i}`)).toEqual({ id: `v1-${i}`, amount: i + 0.5, currency: 'EUR' });
        expect(byId.get(`v2-${i}`)).toEqual({ id: `v2-${i}`, amount: i, currency: i % 2 ? 'NOK' : 'SEK' });
      }
      expect(byId.get('file-0')).toEqual({ id: 'file-0', amount: 7, currency: 'DKK' });

      const dead = await rows<{ _topic: string; stage: string; reason: string }>(
        client,
        'SELECT _topic, stage, reason FROM avro.orders_dead_letters ORDER BY _topic, _offset',
      );
      expect(dead).toEqual(
        [
          {
            _topic: fileTopic,
            stage: 'ingestion',
            reason: expect.stringMatching(/^invalid Avro for shop\.Order: /),
          },
          {
            _topic: registryTopic,
            stage: 'ingestion',
            reason:
              'not in the Confluent wire format: expected magic byte 0x00 and a 4-byte schema id, got 0x7b (24 bytes)',
          },
          {
            _topic: registryTopic,
            stage: 'ingestion',
            reason: 'schema id 999999 is not in the schema registry',
          },
        ].sort((a, b) => a._topic.localeCompare(b._topic)),
      );
    } finally {
      await client.close();
    }
  });

  it('sends registry credentials as HTTP Basic auth, and names them when the registry refuses', async () => {
    // Apicurio here has no authentication: a proxy in front of it asks for HTTP Basic credentials,
    // as Confluent Cloud's registry does, and passes the request on to the real registry.
    const upstream = new URL(env.registryUrl!);
    const expected = `Basic ${Buffer.from('api-key:api-secret').toString('base64')}`;
    const proxy = createServer((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error_code":401,"message":"Unauthorized"}');
        return;
      }
      const out = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          path: `${upstream.pathname}${req.url}`,
          headers: { accept: req.headers.accept },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      out.end();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const subject = `${uniqueName('auth')}-value`;
      const { id } = await new SchemaRegistry({ host: env.registryUrl! }).register(
        { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
        { subject },
      );
      const client = (username?: string, password?: string) =>
        createSchemaRegistry({ url, requestTimeoutMs: 5000, username, password });
      expect(JSON.parse((await client('api-key', 'api-secret').schemaById(id))!)).toMatchObject({
        name: 'Order',
      });
      expect((await client('api-key', 'api-secret').latest(subject))?.id).toBe(id);
      await expect(client('api-key', 'wrong').schemaById(id)).rejects.toThrow(
        /HTTP 401 \(check avro\.registry\.username and password\)/,
      );
      await expect(client().schemaById(id)).rejects.toMatchObject({
        kind: 'fatal',
        message: expect.stringMatching(
          /HTTP 401 \(the registry wants credentials: set avro\.registry\.username/,
        ),
      });
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});

describe('JSON behind a schema registry', () => {
  it('reads values a JSON Schema serializer framed with the Confluent header, as plain JSON beside them', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('json_schema');
    await createTopic(brokers, topic, 1);
    const registry = new SchemaRegistry({ host: env.registryUrl! });
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { id: { type: 'string' }, amount: { type: 'number' } },
      required: ['id', 'amount'],
    };
    const { id } = await registry.register(
      { type: SchemaType.JSON, schema: JSON.stringify(schema) },
      { subject: `${topic}-value` },
    );
    const framed = await Promise.all(
      Array.from({ length: 50 }, (_, i) => registry.encode(id, { id: `framed-${i}`, amount: i })),
    );
    expect(framed[0]![0]).toBe(0); // the Confluent header: magic byte, then the schema id
    const producer = kafkaClient(brokers).producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [...framed, Buffer.from('{"id":"plain","amount":0.5}')].map((value) => ({ value })),
    });
    await producer.disconnect();
    const config = validateConfig({
      kafka: { brokers: [brokers], groupId: uniqueName('g') },
      sources: [{ topics: [topic], format: 'json' }],
      output: {
        database: 'json_schema',
        table: 'orders',
        columns: [
          { name: 'id', type: 'String' },
          { name: 'amount', type: 'Float64' },
        ],
      },
      storage: { path: join(dir, 'chdb') },
      http: { enabled: false },
    });
    await runUntilCaughtUp(config, [topic]);
    const client = await createClickHouseClient(config.storage, createLogger({ level: 'silent' }));
    try {
      const stored = await rows<{ id: string; amount: number }>(
        client,
        'SELECT id, amount FROM json_schema.orders ORDER BY _offset',
      );
      expect(stored).toEqual([
        ...Array.from({ length: 50 }, (_, i) => ({ id: `framed-${i}`, amount: i })),
        { id: 'plain', amount: 0.5 },
      ]);
      const dead = await rows<{ n: string }>(
        client,
        'SELECT count() AS n FROM json_schema.orders_dead_letters',
      );
      expect(Number(dead[0]!.n)).toBe(0);
    } finally {
      await client.close();
    }
  });
});
