import type { ConnectionOptions } from 'node:tls';
import { checkTlsFiles, readConfigFiles } from './configFiles.js';

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

type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** One object type per mechanism, as kafkajs types them. */
export type KafkaSaslConfig = {
  readonly [M in SaslMechanism]: {
    readonly mechanism: M;
    readonly username: string;
    readonly password: string;
  };
}[SaslMechanism];

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
  readonly sasl?: KafkaSaslConfig;
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
  if (access.sasl) out.sasl = { ...access.sasl }; // a copy: the config is frozen, and kafkajs writes into it
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
