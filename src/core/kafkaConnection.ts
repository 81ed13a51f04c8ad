import type { Admin, Kafka } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import { checkTlsFiles, readConfigFiles } from './configFiles.js';
import {
  moduleTokenProvider,
  oauthBearerProvider,
  type OAuthBearerToken,
  type OAuthClientConfig,
} from './oauthToken.js';

/** TLS to the brokers: PEM files (paths relative to the pipeline file), as Node's tls takes them. */
export interface KafkaTlsConfig {
  /** CA certificate(s) the brokers' certificates must chain to; default: Node's trusted CAs. */
  readonly ca?: string | undefined;
  /** Client certificate and its private key, for brokers that require client authentication. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly passphrase?: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly servername?: string | undefined;
}

type PasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** SASL as the pipeline file gives it (the schema checks each mechanism has its own fields). */
export interface KafkaSaslConfig extends Partial<OAuthClientConfig> {
  readonly mechanism: PasswordMechanism | 'oauthbearer';
  readonly tokenModule?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** SASL as kafkajs takes it: one object type per mechanism. */
export type KafkaSaslOptions =
  | {
      readonly [M in PasswordMechanism]: {
        readonly mechanism: M;
        readonly username: string;
        readonly password: string;
      };
    }[PasswordMechanism]
  | { readonly mechanism: 'oauthbearer'; readonly oauthBearerProvider: () => Promise<OAuthBearerToken> };

/** How to reach the cluster, as the pipeline file says it. */
export interface KafkaAccessConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly ssl?: boolean | KafkaTlsConfig | undefined;
  readonly sasl?: KafkaSaslConfig | undefined;
}

/** What a kafkajs client is built with (spread into `new Kafka({...})`). */
export interface KafkaConnectionOptions {
  readonly brokers: string[];
  readonly clientId: string;
  readonly ssl?: boolean | ConnectionOptions;
  readonly sasl?: KafkaSaslOptions;
}

/**
 * One token provider per SASL config: the consumer, the dead-letter producer and the forward
 * producer of a pipeline share its token instead of fetching one each.
 */
const providers = new WeakMap<KafkaSaslConfig, () => Promise<OAuthBearerToken>>();

function saslOptions(sasl: KafkaSaslConfig, baseDir: string): KafkaSaslOptions {
  if (sasl.mechanism !== 'oauthbearer') {
    return { mechanism: sasl.mechanism, username: sasl.username ?? '', password: sasl.password ?? '' };
  }
  let provider = providers.get(sasl);
  if (!provider) {
    provider = sasl.tokenModule
      ? moduleTokenProvider(sasl.tokenModule, baseDir, sasl.extensions)
      : oauthBearerProvider({
          tokenEndpoint: sasl.tokenEndpoint ?? '',
          clientId: sasl.clientId ?? '',
          clientSecret: sasl.clientSecret ?? '',
          scope: sasl.scope,
          extensions: sasl.extensions,
          clientAuth: sasl.clientAuth,
        });
    providers.set(sasl, provider);
  }
  return { mechanism: 'oauthbearer', oauthBearerProvider: provider };
}

/**
 * Builds a kafkajs client's connection options, reading the TLS files now: a missing or unreadable
 * one is a ConfigError naming its key and path.
 */
export function kafkaConnectionOptions(access: KafkaAccessConfig, baseDir: string): KafkaConnectionOptions {
  const out: { -readonly [K in keyof KafkaConnectionOptions]: KafkaConnectionOptions[K] } = {
    brokers: [...access.brokers],
    clientId: access.clientId,
  };
  if (access.sasl) out.sasl = saslOptions(access.sasl, baseDir); // a new object: the config is frozen, and kafkajs writes into it
  const tls = access.ssl;
  if (tls === true || tls === false) out.ssl = tls;
  else if (tls) {
    const [ca, cert, key] = readConfigFiles(baseDir, [
      ['kafka.ssl.ca', tls.ca],
      ['kafka.ssl.cert', tls.cert],
      ['kafka.ssl.key', tls.key],
    ]);
    checkTlsFiles({
      ca: ca && ['kafka.ssl.ca', ca],
      cert: cert && ['kafka.ssl.cert', cert],
      key: key && ['kafka.ssl.key', key],
      passphrase: ['kafka.ssl.passphrase', tls.passphrase],
    });
    out.ssl = {
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(ca ? { ca: [ca] } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    };
  }
  return out;
}

/**
 * A connected admin client that knows the cluster's brokers. kafkajs's admin knows only the seed
 * brokers after `connect()`: its first group request (a lane's committed metadata at its first
 * batch, the lag) finds no coordinator in its broker pool and retries about 300 ms later, which
 * delayed every start's first records by that much. Reading the cluster's metadata fills the pool.
 */
export async function connectAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.describeCluster();
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw err;
  }
  return admin;
}
