import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/index.js';
import { counterValue, createLogger } from '../src/core/index.js';
import { createPipeline, prepareStages } from '../src/pipeline/index.js';
import { createClickHouseClient } from '../src/storage/index.js';
import { rows } from './support/clickhouse.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, produceInOrder, waitFor } from './support/kafka.js';

const env = services();
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

/** A self-hosted server behind a private CA: the server store verifies it against that CA. */
describe('ClickHouse over HTTPS', () => {
  it('stores through HTTPS, verifying the server against a private CA', async () => {
    const s = secured();
    const topic = uniqueName('ch_tls');
    await createTopic(env.kafkaBrokers!, topic, 1);
    await produceInOrder(
      env.kafkaBrokers!,
      topic,
      new Map([[0, Array.from({ length: 200 }, (_, n) => ({ value: JSON.stringify({ n }) }))]]),
    );
    const storage = { url: s.clickhouseHttps, tls: { ca: join(s.tlsDir, 'ca.pem') } };
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

  it('refuses a server its CA does not vouch for, and names an unreadable CA file', async () => {
    const s = secured();
    // Without the private CA, Node's trusted CAs do not know the server's certificate.
    const pipeline = createPipeline(pipelineConfig('never', 'never', { url: s.clickhouseHttps }), {
      logger: createLogger({ level: 'silent' }),
    });
    await expect(pipeline.start()).rejects.toThrow(/certificate/i);
    await pipeline.stop(Date.now() + 5000).catch(() => undefined);
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
