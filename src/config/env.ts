/**
 * Environment overrides, applied on top of the pipeline file before validation. This table is the
 * one place that knows which variables the service reads (docker-compose.yml is checked against it).
 */
export interface EnvOverride {
  readonly variable: string;
  readonly key: string;
  readonly description: string;
  apply(doc: Record<string, unknown>, value: string): void;
}

function setPath(doc: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = doc;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (next === undefined || next === null) {
      node[part] = {};
    } else if (typeof next !== 'object' || Array.isArray(next)) {
      return; // leave a malformed document for the schema to report, naming the key
    }
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function override(variable: string, key: string, description: string, parse = (v: string): unknown => v) {
  return {
    variable,
    key,
    description,
    apply: (doc: Record<string, unknown>, value: string) => setPath(doc, key.split('.'), parse(value)),
  };
}

/** The file's `kafka.ssl` when it is a settings object (not `true`, `false` or absent). */
function tlsSettings(doc: Record<string, unknown>): Record<string, unknown> | undefined {
  const ssl = (doc.kafka as Record<string, unknown> | undefined)?.ssl;
  return ssl !== null && typeof ssl === 'object' ? (ssl as Record<string, unknown>) : undefined;
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  override('KAFKA_BROKERS', 'kafka.brokers', 'comma-separated host:port list', (v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  ),
  override('KAFKA_GROUP_ID', 'kafka.groupId', 'consumer group id'),
  {
    variable: 'KAFKA_SSL',
    key: 'kafka.ssl',
    description: 'true: TLS to the brokers (kept as it is when the file gives TLS settings); false: none',
    apply(doc, value) {
      const on = value === 'true' ? true : value === 'false' ? false : value; // others: the schema names them
      if (on === true && tlsSettings(doc)) return;
      setPath(doc, ['kafka', 'ssl'], on);
    },
  },
  {
    variable: 'KAFKA_SSL_CA',
    key: 'kafka.ssl.ca',
    description: 'PEM file of the CA the brokers chain to (turns TLS on)',
    apply(doc, value) {
      setPath(doc, ['kafka', 'ssl'], { ...tlsSettings(doc), ca: value });
    },
  },
  override(
    'KAFKA_SASL_MECHANISM',
    'kafka.sasl.mechanism',
    'plain, scram-sha-256, scram-sha-512 or oauthbearer',
  ),
  override('KAFKA_SASL_USERNAME', 'kafka.sasl.username', 'SASL user'),
  override('KAFKA_SASL_PASSWORD', 'kafka.sasl.password', 'SASL password'),
  override('KAFKA_SASL_TOKEN_ENDPOINT', 'kafka.sasl.tokenEndpoint', 'OAuth 2.0 token endpoint (oauthbearer)'),
  override('KAFKA_SASL_CLIENT_ID', 'kafka.sasl.clientId', 'OAuth 2.0 client id (oauthbearer)'),
  override('KAFKA_SASL_CLIENT_SECRET', 'kafka.sasl.clientSecret', 'OAuth 2.0 client secret (oauthbearer)'),
  override(
    'CLICKHOUSE_URL',
    'storage.url',
    'ClickHouse server URL; empty selects the embedded engine',
    (v) => (v === '' ? undefined : v),
  ),
  override('CLICKHOUSE_USER', 'storage.username', 'ClickHouse user'),
  override('CLICKHOUSE_PASSWORD', 'storage.password', 'ClickHouse password'),
  override('CHDB_PATH', 'storage.path', 'data directory of the embedded engine'),
  override('WORKERS', 'workers', 'worker threads for the per-record work: auto or a number', (v) =>
    /^\d+$/.test(v) ? Number(v) : v,
  ),
  override('LOG_LEVEL', 'log.level', 'pino log level'),
  override('HTTP_PORT', 'http.port', 'port of /metrics and /health/*', (v) =>
    /^\d+$/.test(v) ? Number(v) : v,
  ),
];

export function applyEnvOverrides(
  doc: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  for (const o of ENV_OVERRIDES) {
    const value = env[o.variable];
    if (value !== undefined) o.apply(doc, value);
  }
  return doc;
}
