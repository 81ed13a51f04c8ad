import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES, parseDocument, validateConfig } from '../src/config/index.js';

// No cluster runs on the build machines; this keeps the example manifest honest against the code.
const root = resolve(import.meta.dirname, '..');
const file = resolve(root, 'deploy/kubernetes/megaservice.yaml');
type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };
const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Doc);
const byKind = (kind: string) => docs.filter((d) => d.kind === kind);

interface Container {
  args: string[];
  env: { name: string; value: string }[];
  envFrom: { secretRef: { name: string } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  volumeMounts: { name: string; mountPath: string }[];
}
const deployment = byKind('Deployment')[0] as Doc & {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Container[];
        volumes: { name: string; configMap: { name: string } }[];
      };
    };
  };
};
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;

/** The container's environment: its own variables and the Secrets it takes whole. */
function containerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { secretRef } of container.envFrom) {
    const secret = byKind('Secret').find((s) => s.metadata.name === secretRef.name) as
      (Doc & { stringData: Record<string, string> }) | undefined;
    expect(secret, `no Secret named ${secretRef.name}`).toBeDefined();
    Object.assign(env, secret!.stringData);
  }
  for (const { name, value } of container.env) env[name] = value;
  return env;
}

/** The pipeline file the container reads: the ConfigMap key behind the --config path. */
function pipelineText(): string {
  const path = container.args[container.args.indexOf('--config') + 1]!;
  const mount = container.volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
  expect(mount, `--config ${path} is not on a mounted volume`).toBeDefined();
  const volume = pod.volumes.find((v) => v.name === mount!.name)!;
  const map = byKind('ConfigMap').find((c) => c.metadata.name === volume.configMap.name) as
    (Doc & { data: Record<string, string> }) | undefined;
  expect(map, `no ConfigMap named ${volume.configMap.name}`).toBeDefined();
  const text = map!.data[path.slice(mount!.mountPath.length + 1)];
  expect(text, `the ConfigMap has no key for ${path}`).toBeDefined();
  return text!;
}

describe('deploy/kubernetes/megaservice.yaml', () => {
  it('runs a pipeline file that validates with the container environment', () => {
    const text = pipelineText();
    const env = containerEnv();
    const config = validateConfig(parseDocument(text, 'pipeline.yaml'), env, 'pipeline.yaml');
    expect(config.kafka.sasl?.mechanism).toBe(env.KAFKA_SASL_MECHANISM);
    expect(config.kafka.groupId).toBe(env.KAFKA_GROUP_ID);
    expect(config.sources[0]!.avro?.registry?.username).toBe(env.SCHEMA_REGISTRY_KEY);
    expect(config.storage.url).toBe(env.CLICKHOUSE_URL);
  });

  it('sets only variables the service reads: overrides, or references in the pipeline file', () => {
    const referenced = new Set(
      [...pipelineText().matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]),
    );
    const known = new Set(ENV_OVERRIDES.map((o) => o.variable));
    const unused = Object.keys(containerEnv()).filter((k) => !known.has(k) && !referenced.has(k));
    expect(unused).toEqual([]);
  });

  it('probes and scrapes the port and paths the service listens on', () => {
    const config = validateConfig(parseDocument(pipelineText(), 'pipeline.yaml'), containerEnv());
    const http = container.ports.find((p) => p.name === container.livenessProbe.httpGet.port)!;
    expect(http.containerPort).toBe(config.http.port);
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: http.name });
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/port']).toBe(String(config.http.port));
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });

  it('gives a stop more time than the drain deadline, and selects its own pods', () => {
    const timeout = Number(container.args[container.args.indexOf('--shutdown-timeout') + 1]);
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(timeout);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    const pdb = byKind('PodDisruptionBudget')[0] as Doc & { spec: { selector: { matchLabels: object } } };
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
  });
});

describe('deploy/kubernetes/keda.yaml', () => {
  type ScaledObject = Doc & {
    apiVersion: string;
    spec: {
      scaleTargetRef: { name: string };
      minReplicaCount: number;
      maxReplicaCount: number;
      triggers: { type: string; metadata: Record<string, string> }[];
    };
  };
  const keda = parseAllDocuments(readFileSync(resolve(root, 'deploy/kubernetes/keda.yaml'), 'utf8')).map(
    (d) => d.toJS() as ScaledObject,
  );

  it("scales megaservice.yaml's Deployment on its own group's backlog, at most one instance per partition", () => {
    expect(keda.map((d) => [d.apiVersion, d.kind])).toEqual([['keda.sh/v1alpha1', 'ScaledObject']]);
    const scaled = keda[0]!;
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
    const config = validateConfig(parseDocument(pipelineText(), 'pipeline.yaml'), containerEnv());
    const [trigger] = scaled.spec.triggers;
    expect(trigger!.type).toBe('prometheus');
    // The backlog metric (the consumer lag counts records open windows hold back on purpose),
    // summed into one series over the instances of this Deployment's group. test/monitoring.test.ts
    // evaluates this query in a real Prometheus against a running pipeline.
    expect(trigger!.metadata.query).toBe(`sum(megaservice_records_behind{group="${config.kafka.groupId}"})`);
    expect(Number(trigger!.metadata.threshold)).toBeGreaterThan(0);
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled.spec.maxReplicaCount).toBeGreaterThanOrEqual(scaled.spec.minReplicaCount);
  });
});
