import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { counterValue, createLogger } from '../src/core/index.js';
import { createPipeline, prepareStages } from '../src/pipeline/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { encryptedClientKey, KEY_PASSPHRASE } from './support/tls.js';
import { createTopic, produceInOrder, waitFor } from './support/kafka.js';

const env = services();
const dir = mkdtempSync(join(tmpdir(), 'clickhouse-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const secured = () => {
  if (!env.secured)
    throw new Error(
      "ClickHouse's HTTPS port comes from scripts/services.sh (CLICKHOUSE_HTTPS_URL, SERVICES_TLS_DIR); this one has none",
    );
  return env.secured;
};

function pipelineConfig(topic: string, table: string, storage: Record<string, unknown>) {
  return validateConfig({
    kafka: { brokers: [env.kafkaBrokers!], groupId: uniqueName('g'), sessionTimeoutMs: 6000 },
    sources: [{ topics: [topic] }],
    output: { database: 'tls', table, columns: [{ name: 'n', type: 'UInt32' }] },
    storage: { flushIntervalMs: 200, ...storage },
    http: { enabled: false },
    workers: 0,
  });
}

/**
 * A self-hosted server behind a private CA that also asks clients for a certificate (the local
 * server's HTTPS port verifies clients strictly): the server store verifies the server against the
 * CA and presents its own certificate.
 */
describe('ClickHouse over HTTPS', () => {
  it('stores through HTTPS, verifying the server against a private CA and presenting a client certificate', async () => {
    const s = secured();
    const topic = uniqueName('ch_tls');
    await createTopic(env.kafkaBrokers!, topic, 1);
    await produceInOrder(
      env.kafkaBrokers!,
      topic,
      new Map([[0, Array.from({ length: 200 }, (_, n) => ({ value: JSON.stringify({ n }) }))]]),
    );
    const storage = {
      url: s.clickhouseHttps,
      tls: {
        ca: join(s.tlsDir, 'ca.pem'),
        cert: join(s.tlsDir, 'client.crt'),
        key: join(s.tlsDir, 'client.key'),
      },
    };
    const config = pipelineConfig(topic, 'events', storage);
    const pipeline = createPipeline(config, { logger: createLogger({ level: 'warn', destination: 2 }) });
    await pipeline.start();
    try {
      await waitFor(
        'every record consumed',
        async () => (await counterValue(pipeline.telemetry.recordsIn, 'ingestion')) >= 200,
        60_000,
      );
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
    const client = await createClickHouseClient(
      { ...config.storage, baseDir: config.baseDir },
      createLogger({ level: 'silent' }),
    );
    try {
      const stored = await rows<{ n: number }>(
        client,
        `SELECT n FROM tls.events WHERE _topic = '${topic}' ORDER BY n`,
      );
      expect(stored.map((r) => Number(r.n))).toEqual(Array.from({ length: 200 }, (_, n) => n));
    } finally {
      await client.close();
    }
  });

  it('presents a client key encrypted under a passphrase (decrypted in memory for the client)', async () => {
    const s = secured();
    const tls = {
      ca: join(s.tlsDir, 'ca.pem'),
      cert: join(s.tlsDir, 'client.crt'),
      key: encryptedClientKey(s.tlsDir, dir),
      passphrase: KEY_PASSPHRASE,
    };
    const topic = uniqueName('ch_tls_passphrase');
    await createTopic(env.kafkaBrokers!, topic, 1);
    // Start-up creates the tables over HTTPS: the server took the client certificate.
    const pipeline = createPipeline(pipelineConfig(topic, 'passphrase', { url: s.clickhouseHttps, tls }), {
      logger: createLogger({ level: 'warn', destination: 2 }),
    });
    try {
      await pipeline.start();
    } finally {
      await pipeline.stop(Date.now() + 30_000);
    }
    const client = await createClickHouseClient(
      { url: env.clickhouseUrl, path: '', username: 'default', password: '', requestTimeoutMs: 10_000 },
      createLogger({ level: 'silent' }),
    );
    try {
      expect(await rows(client, `EXISTS TABLE tls.passphrase`)).toEqual([{ result: 1 }]);
    } finally {
      await client.close();
    }
  });

  it('refuses a server its CA does not vouch for, is refused without a client certificate, and names an unreadable CA file', async () => {
    const s = secured();
    // Without the private CA, Node's trusted CAs do not know the server's certificate.
    const pipeline = createPipeline(pipelineConfig('never', 'never', { url: s.clickhouseHttps }), {
      logger: createLogger({ level: 'silent' }),
    });
    await expect(pipeline.start()).rejects.toThrow(/certificate/i);
    await pipeline.stop(Date.now() + 5000).catch(() => undefined);
    // The CA alone verifies the server, but the server asks for a client certificate.
    const anonymous = createPipeline(
      pipelineConfig('never', 'never', { url: s.clickhouseHttps, tls: { ca: join(s.tlsDir, 'ca.pem') } }),
      { logger: createLogger({ level: 'silent' }) },
    );
    await expect(anonymous.start()).rejects.toThrow(/certificate required/i);
    await anonymous.stop(Date.now() + 5000).catch(() => undefined);
    // Mistakes in the client's files are named before anything connects.
    const key = encryptedClientKey(s.tlsDir, dir);
    const files = (tls: Record<string, unknown>) =>
      prepareStages(
        pipelineConfig('never', 'never', {
          url: s.clickhouseHttps,
          tls: { ca: join(s.tlsDir, 'ca.pem'), cert: join(s.tlsDir, 'client.crt'), ...tls },
        }),
      );
    await expect(files({ key })).rejects.toThrow(
      /storage\.tls\.key: the key is encrypted; set storage\.tls\.passphrase/,
    );
    await expect(files({ key, passphrase: 'wrong' })).rejects.toThrow(
      /storage\.tls\.passphrase: does not decrypt storage\.tls\.key/,
    );
    await expect(files({ key: join(s.tlsDir, 'server.key') })).rejects.toThrow(
      /storage\.tls\.cert: is not the certificate of storage\.tls\.key/,
    );
    const missing = pipelineConfig('never', 'never', {
      url: s.clickhouseHttps,
      tls: { ca: join(s.tlsDir, 'nope.pem') },
    });
    await expect(prepareStages(missing)).rejects.toThrow(
      /storage\.tls\.ca: cannot read .*nope\.pem: file not found/,
    );
    expect(() =>
      pipelineConfig('never', 'never', { url: 'http://127.0.0.1:8123', tls: { ca: 'ca.pem' } }),
    ).toThrow(/storage\.tls: needs an https:\/\/ storage\.url/);
  });
});
