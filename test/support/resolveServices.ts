import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';

const run = promisify(execFile);

export interface Services {
  readonly kafkaBrokers?: string;
  readonly clickhouseUrl?: string;
  /** A Confluent-compatible schema registry API (Apicurio's /apis/ccompat/v7). */
  readonly registryUrl?: string;
  /**
   * Kafka's secured listeners (SASL, SASL over TLS, TLS with client certificates, OAUTHBEARER),
   * ClickHouse's HTTPS port, the folder of their test certificates, and the OAuth server; only
   * scripts/services.sh's services have them.
   */
  readonly secured?: Secured;
  /** How each was found: env, testcontainers or local-script. */
  readonly origin: Record<string, string>;
  /** Why a service could not be found, when it could not. */
  readonly problems: string[];
}

export interface Secured {
  readonly sasl: string;
  readonly saslSsl: string;
  readonly ssl: string;
  readonly tlsDir: string;
  /** ClickHouse's HTTPS port, with a certificate of the same test CA. */
  readonly clickhouseHttps: string;
  /** The SASL/OAUTHBEARER listener, and the token endpoint of the OAuth server whose tokens it takes. */
  readonly oauth: string;
  readonly oauthTokenUrl: string;
}

function secureFrom(env: Record<string, string | undefined>): Secured | undefined {
  const [sasl, saslSsl, ssl, tlsDir, clickhouseHttps, oauth, oauthTokenUrl] = [
    env.KAFKA_SASL_BROKERS,
    env.KAFKA_SASL_SSL_BROKERS,
    env.KAFKA_SSL_BROKERS,
    env.SERVICES_TLS_DIR,
    env.CLICKHOUSE_HTTPS_URL,
    env.KAFKA_OAUTH_BROKERS,
    env.OAUTH_TOKEN_URL,
  ];
  return sasl && saslSsl && ssl && tlsDir && clickhouseHttps && oauth && oauthTokenUrl
    ? { sasl, saslSsl, ssl, tlsDir, clickhouseHttps, oauth, oauthTokenUrl }
    : undefined;
}

export interface Stoppable {
  stop(): Promise<unknown>;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function viaTestcontainers(
  stoppers: Stoppable[],
): Promise<{ kafka: string; clickhouse: string; registry: string }> {
  const { GenericContainer, Wait } = await import('testcontainers');
  // Fixed host port for Kafka: the broker advertises the address clients must use.
  const kafkaPort = 39092;
  const kafka = await new GenericContainer('apache/kafka:3.9.1')
    .withExposedPorts({ container: 9092, host: kafkaPort })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  stoppers.push(kafka);
  const clickhouse = await new GenericContainer('clickhouse/clickhouse-server:latest')
    .withExposedPorts(8123)
    .withEnvironment({ CLICKHOUSE_SKIP_USER_SETUP: '1' })
    .withWaitStrategy(Wait.forHttp('/ping', 8123))
    .start();
  stoppers.push(clickhouse);
  const registry = await new GenericContainer('apicurio/apicurio-registry-mem:2.6.13.Final')
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .start();
  stoppers.push(registry);
  return {
    kafka: `127.0.0.1:${kafkaPort}`,
    clickhouse: `http://${clickhouse.getHost()}:${clickhouse.getMappedPort(8123)}`,
    registry: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
  };
}

async function viaLocalScript(): Promise<{
  kafka?: string;
  clickhouse?: string;
  registry?: string;
  secured?: Secured;
}> {
  const script = resolve(import.meta.dirname, '../../scripts/services.sh');
  const { stdout } = await run('bash', [script, 'up'], { timeout: 600_000, maxBuffer: 1 << 24 });
  const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  const secured = secureFrom(env);
  return {
    kafka: env.KAFKA_BROKERS,
    clickhouse: env.CLICKHOUSE_URL,
    registry: env.SCHEMA_REGISTRY_URL,
    ...(secured ? { secured } : {}),
  };
}

/** Environment first, then testcontainers where a Docker engine answers, then scripts/services.sh. */
export async function resolveServices(stoppers: Stoppable[]): Promise<Services> {
  const origin: Record<string, string> = {};
  const problems: string[] = [];
  let kafkaBrokers = process.env.KAFKA_BROKERS || undefined;
  let clickhouseUrl = process.env.CLICKHOUSE_URL || undefined;
  let registryUrl = process.env.SCHEMA_REGISTRY_URL || undefined;
  if (kafkaBrokers) origin.kafka = 'env';
  if (clickhouseUrl) origin.clickhouse = 'env';
  let secured = kafkaBrokers ? secureFrom(process.env) : undefined;
  if (registryUrl) origin.registry = 'env';
  const done = () => ({ kafkaBrokers, clickhouseUrl, registryUrl, secured, origin, problems });
  if (kafkaBrokers && clickhouseUrl && registryUrl) return done();

  if (await dockerAnswers()) {
    try {
      const tc = await viaTestcontainers(stoppers);
      if (!kafkaBrokers) [kafkaBrokers, origin.kafka] = [tc.kafka, 'testcontainers'];
      if (!clickhouseUrl) [clickhouseUrl, origin.clickhouse] = [tc.clickhouse, 'testcontainers'];
      if (!registryUrl) [registryUrl, origin.registry] = [tc.registry, 'testcontainers'];
      return done();
    } catch (err) {
      problems.push(`testcontainers: ${(err as Error).message}`);
    }
  }
  try {
    const local = await viaLocalScript();
    if (!kafkaBrokers && local.kafka) {
      [kafkaBrokers, origin.kafka] = [local.kafka, 'local-script'];
      secured = local.secured;
    }
    if (!clickhouseUrl && local.clickhouse)
      [clickhouseUrl, origin.clickhouse] = [local.clickhouse, 'local-script'];
    if (!registryUrl && local.registry) [registryUrl, origin.registry] = [local.registry, 'local-script'];
  } catch (err) {
    const e = err as { message: string; stderr?: string };
    problems.push(`scripts/services.sh up failed: ${e.stderr?.trim() || e.message}`);
  }
  return done();
}
