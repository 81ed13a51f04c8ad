import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { loadConfig, outputPlan, validateConfig } from './index.js';

const minimal = () => ({
  kafka: { brokers: ['127.0.0.1:9092'], groupId: 'g' },
  sources: [{ topics: ['t'] }],
  output: { table: 'events', columns: [{ name: 'id', type: 'String' }] },
});

/** A minimal config whose output has one column, of this type. */
const oneColumn = (type: string) => ({
  ...minimal(),
  output: { table: 't', columns: [{ name: 'c', type }] },
});

/** Each of `accepted` validates as declared; each of `refused` is refused as not a column type. */
function takesTypes(accepted: readonly string[], refused: readonly string[]): void {
  for (const type of accepted) expect(validateConfig(oneColumn(type)).output!.columns![0]!.type).toBe(type);
  for (const type of refused)
    expect(issuesOf(() => validateConfig(oneColumn(type)))[0]).toMatch(
      /^output\.columns\[0\]\.type: must be one of/,
    );
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('fills defaults and freezes the result', () => {
    const c = validateConfig(minimal());
    expect(c.kafka.startFrom).toBe('earliest');
    expect(c.kafka.partitionsConsumedConcurrently).toBe(1);
    expect(c.output!.database).toBe('default');
    expect(c.storage.url).toBeUndefined();
    expect(c.storage.path).toBe('.data/chdb');
    expect(Object.isFrozen(c.kafka.brokers)).toBe(true);
  });

  it('names an unknown key and lists the allowed ones', () => {
    const doc = { ...minimal(), kafka: { ...minimal().kafka, groupid: 'x' } };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'kafka.groupid: unknown key (allowed: brokers, clientId, ssl, sasl, groupId, startFrom, partitionsConsumedConcurrently, sessionTimeoutMs, fetchMaxWaitMs)',
    ]);
  });

  it('names an unknown key inside a list', () => {
    const doc = { ...minimal(), sources: [{ topics: ['t'], formt: 'json' }] };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'sources[0].formt: unknown key (allowed: name, topics, topicPattern, format, avro, protobuf, transform, output)',
    ]);
  });

  it('takes Kafka TLS and SASL settings, from the file or the environment', () => {
    const kafka = (k: Record<string, unknown>) => ({ ...minimal(), kafka: { ...minimal().kafka, ...k } });
    expect(validateConfig(kafka({ ssl: true })).kafka.ssl).toBe(true);
    expect(validateConfig(kafka({ ssl: { ca: 'ca.pem' } })).kafka.ssl).toEqual({
      ca: 'ca.pem',
      rejectUnauthorized: true,
    });
    expect(issuesOf(() => validateConfig(kafka({ ssl: { cert: 'c.pem' } })))).toEqual([
      'kafka.ssl: set both cert and key (a client certificate), or neither',
    ]);
    const storage = (tls: Record<string, unknown>) => ({
      ...minimal(),
      storage: { url: 'https://ch.example:8443', tls: { ca: 'ca.pem', ...tls } },
    });
    expect(validateConfig(storage({ cert: 'c.pem', key: 'k.pem', passphrase: 'p' })).storage.tls).toEqual({
      ca: 'ca.pem',
      cert: 'c.pem',
      key: 'k.pem',
      passphrase: 'p',
    });
    expect(issuesOf(() => validateConfig(storage({ passphrase: 'p' })))).toEqual([
      'storage.tls.passphrase: only with an encrypted key',
    ]);
    expect(
      issuesOf(() => validateConfig(kafka({ sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } }))),
    ).toEqual([
      'kafka.sasl.mechanism: must be one of "plain", "scram-sha-256", "scram-sha-512", "oauthbearer"',
    ]);
    const oauth = {
      mechanism: 'oauthbearer',
      tokenEndpoint: 'https://idp.example/oauth2/token',
      clientId: 'svc',
      clientSecret: 's',
    };
    expect(
      validateConfig(kafka({ sasl: { ...oauth, extensions: { logicalCluster: 'lkc-1' } } })).kafka.sasl,
    ).toEqual({
      ...oauth,
      extensions: { logicalCluster: 'lkc-1' },
    });
    expect(
      issuesOf(() => validateConfig(kafka({ sasl: { mechanism: 'oauthbearer', username: 'u' } }))),
    ).toEqual([
      'kafka.sasl.tokenEndpoint: is required with mechanism oauthbearer',
      'kafka.sasl.clientId: is required with mechanism oauthbearer',
      'kafka.sasl.clientSecret: is required with mechanism oauthbearer',
      'kafka.sasl.username: only with mechanism plain, scram-sha-256 or scram-sha-512',
    ]);
    expect(
      issuesOf(() =>
        validateConfig(kafka({ sasl: { mechanism: 'plain', username: 'u', password: 'p', scope: 'x' } })),
      ),
    ).toEqual(['kafka.sasl.scope: only with mechanism oauthbearer']);
    expect(
      issuesOf(() => validateConfig(kafka({ sasl: { mechanism: 'scram-sha-256', username: 'u' } }))),
    ).toEqual(['kafka.sasl.password: is required with mechanism scram-sha-256']);
    expect(
      issuesOf(() => validateConfig(kafka({ sasl: { ...oauth, tokenEndpoint: 'idp.example/token' } }))),
    ).toEqual(['kafka.sasl.tokenEndpoint: must be an http:// or https:// URL']);
    expect(
      validateConfig(kafka({ sasl: { mechanism: 'oauthbearer', tokenModule: './msk.mjs' } })).kafka.sasl,
    ).toEqual({
      mechanism: 'oauthbearer',
      tokenModule: './msk.mjs',
    });
    expect(issuesOf(() => validateConfig(kafka({ sasl: { ...oauth, tokenModule: './msk.mjs' } })))).toEqual([
      'kafka.sasl.tokenEndpoint: not with tokenModule (the module gets the token)',
      'kafka.sasl.clientId: not with tokenModule (the module gets the token)',
      'kafka.sasl.clientSecret: not with tokenModule (the module gets the token)',
    ]);
    const fromEnv = validateConfig(kafka({}), {
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_TOKEN_ENDPOINT: 'https://idp.example/token',
      KAFKA_SASL_CLIENT_ID: 'svc',
      KAFKA_SASL_CLIENT_SECRET: 'secret',
    });
    expect(fromEnv.kafka.sasl).toEqual({
      mechanism: 'oauthbearer',
      tokenEndpoint: 'https://idp.example/token',
      clientId: 'svc',
      clientSecret: 'secret',
    });
    const env = {
      KAFKA_SSL_CA: '/etc/kafka/ca.pem',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'secret',
    };
    const c = validateConfig(kafka({ ssl: true }), env);
    expect(c.kafka.ssl).toEqual({ ca: '/etc/kafka/ca.pem', rejectUnauthorized: true });
    expect(c.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'svc', password: 'secret' });
    // KAFKA_SSL=true keeps the file's TLS settings; false turns TLS off.
    expect(validateConfig(kafka({ ssl: { ca: 'a.pem' } }), { KAFKA_SSL: 'true' }).kafka.ssl).toEqual({
      ca: 'a.pem',
      rejectUnauthorized: true,
    });
    expect(validateConfig(kafka({ ssl: { ca: 'a.pem' } }), { KAFKA_SSL: 'false' }).kafka.ssl).toBe(false);
    expect(issuesOf(() => validateConfig(minimal(), { KAFKA_SSL: 'yes' }))[0]).toMatch(/^kafka\.ssl: /);
  });

  it('fills ${VAR} references in strings from the environment, naming the key of an unset one', () => {
    const doc = {
      ...minimal(),
      kafka: {
        ...minimal().kafka,
        groupId: 'features-${ENVIRONMENT:-dev}',
        sasl: { mechanism: 'plain', username: '${SASL_USER}', password: '${SASL_PASSWORD}' },
      },
      sources: [{ topics: ['orders-$${literal}'] }],
    };
    const c = validateConfig(doc, { SASL_USER: 'svc', SASL_PASSWORD: 'p${not-a-ref}' });
    expect(c.kafka.groupId).toBe('features-dev');
    expect(c.kafka.sasl).toEqual({ mechanism: 'plain', username: 'svc', password: 'p${not-a-ref}' });
    expect(c.sources[0]!.topics).toEqual(['orders-${literal}']);
    expect(
      validateConfig(doc, { ENVIRONMENT: 'prod', SASL_USER: 'u', SASL_PASSWORD: 'p' }).kafka.groupId,
    ).toBe('features-prod');
    expect(issuesOf(() => validateConfig(doc, { SASL_USER: 'svc' }))).toEqual([
      'kafka.sasl.password: environment variable SASL_PASSWORD is not set (write ${SASL_PASSWORD:-default} for a default, or $${ for a literal ${)',
    ]);
  });

  it('names a wrong type', () => {
    const doc = { ...minimal(), kafka: { ...minimal().kafka, partitionsConsumedConcurrently: 'many' } };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'kafka.partitionsConsumedConcurrently: expected number, received string',
    ]);
  });

  it('takes workers as auto or a whole number, from the file or WORKERS', () => {
    expect(validateConfig(minimal()).workers).toBe('auto');
    expect(validateConfig({ ...minimal(), workers: 0 }).workers).toBe(0);
    expect(validateConfig(minimal(), { WORKERS: '3' }).workers).toBe(3);
    for (const workers of ['many', -1, 1.5, 33])
      expect(issuesOf(() => validateConfig({ ...minimal(), workers }))).toEqual([
        "workers: must be 'auto' or a whole number from 0 to 32",
      ]);
  });

  it('names a missing required key', () => {
    const { kafka, ...rest } = minimal();
    const doc = { ...rest, kafka: { brokers: kafka.brokers } };
    expect(issuesOf(() => validateConfig(doc))).toEqual(['kafka.groupId: is required (expected string)']);
  });

  it('takes forward (hybrid mode) instead of output, without features and with a dead-letter topic', () => {
    const { output: _, ...noOutput } = minimal();
    const forward = { ...noOutput, forward: { topic: 'clean' }, deadLetters: { topic: 'dlq' } };
    expect(validateConfig(forward).forward).toEqual({ topic: 'clean' });
    expect(issuesOf(() => validateConfig(noOutput))).toEqual([
      '(top level): set exactly one of output (a ClickHouse table) and forward (a Kafka topic: hybrid mode)',
    ]);
    expect(
      issuesOf(() =>
        validateConfig({ ...minimal(), forward: { topic: 'clean' }, deadLetters: { topic: 'd' } }),
      ),
    ).toEqual([
      '(top level): set exactly one of output (a ClickHouse table) and forward (a Kafka topic: hybrid mode)',
    ]);
    const features = [
      {
        name: 'f',
        entity: 'id',
        eventTime: '$timestamp',
        window: { type: 'tumbling', size: '1m' },
        aggregations: [{ name: 'n', fn: 'count' }],
      },
    ];
    expect(
      issuesOf(() =>
        validateConfig({
          ...forward,
          sources: [{ topicPattern: '^(t|clean)$' }],
          forward: { topic: 'clean' },
        }),
      ),
    ).toEqual([
      'forward.topic: clean is also a source of this deployment: its records would come back to it',
    ]);
    expect(issuesOf(() => validateConfig({ ...noOutput, forward: { topic: 'clean' }, features }))).toEqual([
      'features: belong to the deployment that reads forward.topic: with forward, this one ends after transformation',
      'deadLetters.topic: is required with forward: without a ClickHouse table, dead letters go to a topic',
    ]);
  });

  it('lists the allowed values of an enum', () => {
    const doc = { ...minimal(), sources: [{ topics: ['t'], format: 'xml' }] };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'sources[0].format: must be one of "json", "avro", "protobuf"',
    ]);
  });

  it('checks a Decimal precision and scale', () => {
    expect(validateConfig(oneColumn('Decimal(38, 38)')).output!.columns![0]!.type).toBe('Decimal(38, 38)');
    expect(issuesOf(() => validateConfig(oneColumn('Decimal(39, 2)')))).toEqual([
      'output.columns[0].type: Decimal(P, S) takes a precision P from 1 to 38 and a scale S from 0 to P',
    ]);
    expect(issuesOf(() => validateConfig(oneColumn('Nullable(Decimal(4, 5))')))).toEqual([
      'output.columns[0].type: Decimal(P, S) takes a precision P from 1 to 38 and a scale S from 0 to P',
    ]);
  });

  it('takes LowCardinality(String) as an Array element, a Map key and a Map value, and no other LowCardinality', () => {
    takesTypes(
      [
        'Array(LowCardinality(String))',
        'Array(LowCardinality(Nullable(String)))',
        'Map(LowCardinality(String), UInt32)',
        'Map(LowCardinality(String),LowCardinality(String))',
      ],
      ['Array(LowCardinality(UInt8))', 'Map(LowCardinality(UInt8), String)', 'LowCardinality(Array(String))'],
    );
  });

  it('takes insert settings, refusing those that would drop rows, acknowledge early, or clash with its token', () => {
    const doc = (insertSettings: Record<string, unknown>) => ({ ...minimal(), storage: { insertSettings } });
    expect(
      validateConfig(doc({ insert_quorum: 2, insert_distributed_sync: true })).storage.insertSettings,
    ).toEqual({
      insert_quorum: 2,
      insert_distributed_sync: true,
    });
    expect(
      issuesOf(() =>
        validateConfig(
          doc({
            input_format_allow_errors_num: 10,
            wait_for_async_insert: 0,
            insert_deduplication_token: 'x',
            'Max-Size': 1,
          }),
        ),
      ),
    ).toEqual([
      'storage.insertSettings.input_format_allow_errors_num: would let ClickHouse skip bad rows silently; the service dead-letters them with the reason',
      'storage.insertSettings.wait_for_async_insert: would acknowledge inserts before they are stored, and offsets would be committed for records a crash can lose',
      'storage.insertSettings.insert_deduplication_token: is set by the service, from the source positions of each insert',
      'storage.insertSettings.Max-Size: must be a ClickHouse setting name (lower-case letters, digits and _)',
    ]);
  });

  it('takes DateTime and DateTime64 with a timezone', () => {
    takesTypes(
      [
        "DateTime('Asia/Tokyo')",
        "DateTime64(3, 'UTC')",
        "Nullable(DateTime64(6,'Etc/GMT+2'))",
        "Array(DateTime('Europe/Oslo'))",
      ],
      ['DateTime(UTC)', "DateTime('')", "DateTime64(9, 'UTC')", "DateTime('UTC'); DROP"],
    );
  });

  it('explains a bad column type with the allowed types', () => {
    const doc = { ...minimal(), output: { table: 'e', columns: [{ name: 'x', type: 'Strin' }] } };
    const [line] = issuesOf(() => validateConfig(doc));
    expect(line).toMatch(
      /^output\.columns\[0\]\.type: must be one of String, UInt8, .*DateTime, UUID, DateTime64\(3\), DateTime64\(6\), Decimal\(P, S\), DateTime\('Zone\/Name'\), DateTime64\(3 or 6, 'Zone\/Name'\), Nullable\(one of them\), LowCardinality\(String\), LowCardinality\(Nullable\(String\)\), Array\(a type of those kinds\), or Map\(a key of String, LowCardinality\(String\), an integer type, Date or UUID, a type of those kinds\)$/,
    );
  });

  it('rejects names that would need quoting and duplicate columns', () => {
    const doc = {
      ...minimal(),
      output: {
        table: 'my-table',
        columns: [
          { name: 'a', type: 'String' },
          { name: 'a', type: 'UInt8' },
        ],
      },
    };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'output.table: must be an identifier: letters, digits and _, not starting with a digit',
      "output.columns[1].name: duplicate column 'a'",
    ]);
  });

  it('takes a table per source, in output.database, and plans where each source goes', () => {
    const orders = { table: 'orders', columns: [{ name: 'amount', type: 'Float64' }] };
    const doc = {
      ...minimal(),
      sources: [{ topics: ['t'] }, { topics: ['o1'], output: orders }, { topics: ['o2'], output: orders }],
    };
    const plan = outputPlan(validateConfig(doc))!;
    expect(plan.tables.map((t) => t.table)).toEqual(['events', 'orders']);
    expect(plan.ofSource).toEqual([0, 1, 1]);
    expect(plan.deadLetterTable).toBe('events_dead_letters');

    // Without output.table, every source names its own, and dead letters go to dead_letters.
    const own = {
      ...minimal(),
      output: { database: 'shop' },
      sources: [{ topics: ['o1'], output: orders }],
    };
    const only = outputPlan(validateConfig(own))!;
    expect(only).toMatchObject({ database: 'shop', ofSource: [0], deadLetterTable: 'dead_letters' });
    expect(outputPlan(validateConfig({ ...own, deadLetters: { table: 'rejects' } }))!.deadLetterTable).toBe(
      'rejects',
    );
    expect(issuesOf(() => validateConfig({ ...own, sources: [...own.sources, { topics: ['x'] }] }))).toEqual([
      'sources[1].output: is required: output has no table for the records of this source (set output.table and output.columns, or this)',
    ]);
    expect(issuesOf(() => validateConfig({ ...own, output: { table: 'events' } }))).toEqual([
      'output.columns: is required with table',
    ]);
  });

  it('refuses two uses of one table name', () => {
    const features = (name: string) => [
      {
        name,
        entity: 'id',
        eventTime: '$timestamp',
        window: { type: 'tumbling', size: '1m' },
        aggregations: [{ name: 'n', fn: 'count' }],
      },
    ];
    const other = { table: 'events', columns: [{ name: 'amount', type: 'Float64' }] };
    expect(
      issuesOf(() =>
        validateConfig({ ...minimal(), sources: [{ topics: ['t'] }, { topics: ['u'], output: other }] }),
      ),
    ).toEqual([
      'sources[1].output.table: events is also the table of output.table, with other columns: declare the same columns, or another table',
    ]);
    expect(issuesOf(() => validateConfig({ ...minimal(), features: features('events') }))).toEqual([
      'features[0].name: events is already taken by output.table: each feature set has a table of its own, named after it',
    ]);
    expect(
      issuesOf(() => validateConfig({ ...minimal(), features: features('events_dead_letters') })),
    ).toEqual([
      "features[0].name: events_dead_letters is already taken by the dead letters' table: each feature set has a table of its own, named after it",
    ]);
    expect(issuesOf(() => validateConfig({ ...minimal(), deadLetters: { table: 'events' } }))).toEqual([
      "deadLetters.table: the dead letters' table events is also the table of output.table",
    ]);
    const { output: _, ...noOutput } = minimal();
    expect(
      issuesOf(() =>
        validateConfig({
          ...noOutput,
          sources: [{ topics: ['t'], output: other }],
          forward: { topic: 'clean' },
          deadLetters: { topic: 'dlq', table: 'x' },
        }),
      ),
    ).toEqual([
      'deadLetters.table: only with output: with forward, dead letters go to deadLetters.topic',
      'sources[0].output: not with forward: this deployment stores nothing in ClickHouse',
    ]);
  });

  it('names what a window type needs and what it does not take', () => {
    const fs = (window: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      name: 'f',
      entity: 'user',
      eventTime: 'ts',
      window,
      aggregations: [{ name: 'n', fn: 'count' }],
      ...extra,
    });
    const doc = {
      ...minimal(),
      features: [
        fs({ type: 'session', size: '1m' }),
        fs({ type: 'tumbling', gap: '30s' }),
        fs({ type: 'session', gap: '30s' }, { idleTimeout: 'never' }),
      ],
    };
    expect(issuesOf(() => validateConfig(doc))).toEqual([
      'features[0].window.gap: is required for session windows',
      'features[0].window.size: only applies to tumbling and hopping windows',
      'features[1].window.size: is required for tumbling windows',
      'features[1].window.gap: only applies to session windows',
      'features[2].idleTimeout: must be off, or a duration above 0 such as 30s, 5m or 1h',
    ]);
    const ok = validateConfig({ ...minimal(), features: [fs({ type: 'session', gap: '30s' })] });
    expect(ok.features[0]!.window.gap).toBe(30_000);
    expect(ok.features[0]!.idleTimeout).toBe(60_000);
  });

  it('applies environment overrides before validating', () => {
    const c = validateConfig(minimal(), {
      KAFKA_BROKERS: 'a:1, b:2',
      CLICKHOUSE_URL: 'http://ch:8123',
      KAFKA_GROUP_ID: 'from-env',
    });
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2']);
    expect(c.kafka.groupId).toBe('from-env');
    expect(c.storage.url).toBe('http://ch:8123');
  });

  it('names the key an environment override broke', () => {
    expect(issuesOf(() => validateConfig(minimal(), { KAFKA_BROKERS: 'nohost' }))).toEqual([
      'kafka.brokers[0]: must be host:port',
    ]);
  });

  it('an empty CLICKHOUSE_URL selects the embedded engine', () => {
    const doc = { ...minimal(), storage: { url: 'http://x:8123' } };
    expect(validateConfig(doc, { CLICKHOUSE_URL: '' }).storage.url).toBeUndefined();
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cfg-'));

  it('reads YAML and JSON files', async () => {
    writeFileSync(join(dir, 'p.json'), JSON.stringify(minimal()));
    writeFileSync(
      join(dir, 'p.yaml'),
      'kafka: {brokers: [127.0.0.1:9092], groupId: g}\nsources: [{topics: [t]}]\noutput: {table: events, columns: [{name: id, type: String}]}\n',
    );
    expect((await loadConfig(join(dir, 'p.json'), {})).output!.table).toBe('events');
    expect((await loadConfig(join(dir, 'p.yaml'), {})).sources[0]!.topics).toEqual(['t']);
  });

  it('names a missing file', async () => {
    await expect(loadConfig(join(dir, 'nope.yaml'), {})).rejects.toThrow(
      `--config: cannot read ${join(dir, 'nope.yaml')}: file not found`,
    );
  });

  it('names the file when it cannot be parsed', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'kafka: [unclosed\n');
    await expect(loadConfig(join(dir, 'bad.yaml'), {})).rejects.toThrow(
      /invalid configuration in .*bad\.yaml:\n {2}- cannot parse/,
    );
  });
});
