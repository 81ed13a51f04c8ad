import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES, parseDocument, validateConfig } from '../src/config/index.js';
import { CONTAINER_HEAP_FLAGS, heapSizedByContainer } from '../src/core/index.js';

// docker compose cannot run on the build machines (no Docker engine); this keeps the file honest.
const root = resolve(import.meta.dirname, '..');
const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<
    string,
    {
      environment?: Record<string, string>;
      command?: string[];
      depends_on?: Record<string, { condition: string }>;
      healthcheck?: { test: string[] };
      ports?: string[];
      build?: string;
    }
  >;
};
const services = compose.services;
const mega = services.megaservice!;
const megaEnv = mega.environment ?? {};

/** /app/examples/x.yaml in the image is examples/x.yaml here (the Dockerfile copies examples/ to /app). */
function pipelineFileOf(command: readonly string[]): string {
  const path = command[command.indexOf('--config') + 1]!;
  expect(path.startsWith('/app/examples/')).toBe(true);
  return resolve(root, path.replace('/app/', ''));
}

describe('docker-compose.yml', () => {
  it('gives the megaservice only environment variables the config loader reads', () => {
    const known = new Set(ENV_OVERRIDES.map((o) => o.variable));
    expect(Object.keys(megaEnv).filter((k) => !known.has(k))).toEqual([]);
    expect(megaEnv.KAFKA_BROKERS).toBeDefined();
    expect(megaEnv.CLICKHOUSE_URL).toBeDefined();
  });

  it('points the megaservice at the compose Kafka listener and ClickHouse credentials', () => {
    const kafkaEnv = services.kafka!.environment!;
    const advertised = kafkaEnv.KAFKA_ADVERTISED_LISTENERS!.split(',').map((l) => l.replace(/^\w+:\/\//, ''));
    for (const broker of megaEnv.KAFKA_BROKERS!.split(',')) expect(advertised).toContain(broker);
    const ch = new URL(megaEnv.CLICKHOUSE_URL!);
    expect(services[ch.hostname], `no service named ${ch.hostname}`).toBeDefined();
    expect(ch.port).toBe('8123');
    expect(megaEnv.CLICKHOUSE_USER).toBe(services.clickhouse!.environment!.CLICKHOUSE_USER);
    expect(megaEnv.CLICKHOUSE_PASSWORD).toBe(services.clickhouse!.environment!.CLICKHOUSE_PASSWORD);
  });

  it('runs a pipeline file that validates with the compose environment', () => {
    const file = pipelineFileOf(mega.command!);
    const config = validateConfig(parseDocument(readFileSync(file, 'utf8'), file), megaEnv, file);
    expect(config.kafka.brokers).toEqual(megaEnv.KAFKA_BROKERS!.split(','));
    expect(config.storage.url).toBe(megaEnv.CLICKHOUSE_URL);
    expect(config.storage.username).toBe(megaEnv.CLICKHOUSE_USER);
    // The healthcheck and the published port use the port the service listens on.
    expect(mega.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${config.http.port}/health/live`);
    expect(mega.ports).toContain(`${config.http.port}:${config.http.port}`);
    // The demo producer writes the topic the pipeline reads.
    const producer = services['demo-producer']!.command!;
    const topic = producer[producer.indexOf('--topic') + 1]!;
    expect(config.sources.flatMap((s) => s.topics)).toContain(topic);
    expect(producer[producer.indexOf('--brokers') + 1]).toBe(megaEnv.KAFKA_BROKERS);
  });

  it('waits for healthy dependencies that have healthchecks', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
        expect(condition, `${name} -> ${dep}`).toBe('service_healthy');
        expect(services[dep]?.healthcheck, `${dep} has no healthcheck`).toBeDefined();
      }
    }
  });

  it('has a Dockerfile default command that runs an existing, valid pipeline file', () => {
    const dockerfile = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const file = pipelineFileOf(cmd);
    expect(() => validateConfig(parseDocument(readFileSync(file, 'utf8'), file), {}, file)).not.toThrow();
  });

  it('starts node with full-sized heap flags, which this node takes and which keep the heap warning quiet', () => {
    const dockerfile = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
    const entry = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(entry[0]).toBe('node');
    const flags = entry.slice(1, -1);
    expect(flags).toEqual([...CONTAINER_HEAP_FLAGS]);
    // A flag node does not know stops it with "bad option"; these give the sizes of an unlimited heap.
    const limitMiB = Number(
      execFileSync(
        process.execPath,
        [...flags, '-p', "require('v8').getHeapStatistics().heap_size_limit / 1048576"],
        {
          encoding: 'utf8',
        },
      ),
    );
    expect(limitMiB).toBeGreaterThanOrEqual(4096);
    expect(heapSizedByContainer(512 * 1048576, limitMiB * 1048576, flags, undefined)).toBeUndefined();
  });
});
