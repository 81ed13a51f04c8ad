import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument, validateConfig } from '../src/config/index.js';
import { services, uniqueName } from './support/env.js';
import { createTopic, kafkaClient, waitFor } from './support/kafka.js';
import { USER_10S_IDLE } from './support/pipeline.js';
import { startPipelineProcess, writePipeline } from './support/processes.js';
import { testTool } from './support/tools.js';

const ROOT = resolve(import.meta.dirname, '..');
const MONITORING = join(ROOT, 'deploy/monitoring');
const env = services();
const dir = mkdtempSync(join(tmpdir(), 'monitoring-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
const dashboard = JSON.parse(
  readFileSync(join(MONITORING, 'grafana/dashboards/megaservice.json'), 'utf8'),
) as { panels: Panel[] };
const queries = dashboard.panels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
);
/** Metric names a query reads (ours, and prom-client's process metrics). */
const metricsOf = (expr: string) =>
  [...expr.matchAll(/\b((?:megaservice|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!);
/** A histogram's series are read through _bucket; the exposition's HELP line names the histogram. */
const baseName = (name: string) => name.replace(/_bucket$/, '');

interface RuleFile {
  groups: { rules: { alert: string; expr: string }[] }[];
}
const rules = (parse(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')) as RuleFile).groups.flatMap(
  (g) => g.rules,
);
const prometheusBin = () => testTool('prometheus');

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, { profiles?: string[]; volumes?: string[]; command?: string[] }>;
};

describe('monitoring: Prometheus and Grafana in the compose file', () => {
  it('wires the compose services, the scrape target and the dashboard together', () => {
    const { prometheus, grafana, megaservice } = compose.services;
    expect(prometheus?.profiles).toEqual(['monitoring']);
    expect(grafana?.profiles).toEqual(['monitoring']);
    // Every mounted file or folder exists in the repository.
    for (const volume of [...prometheus!.volumes!, ...grafana!.volumes!]) {
      const source = volume.split(':')[0]!;
      expect(existsSync(resolve(ROOT, source)), source).toBe(true);
    }
    // Prometheus scrapes the megaservice on the port its pipeline file serves /metrics on.
    const scrape = parse(readFileSync(join(MONITORING, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { metrics_path: string; static_configs: { targets: string[] }[] }[];
    };
    const file = resolve(
      ROOT,
      megaservice!.command![megaservice!.command!.indexOf('--config') + 1]!.replace('/app/', ''),
    );
    const config = validateConfig(parseDocument(readFileSync(file, 'utf8'), file), {}, file);
    expect(scrape.scrape_configs[0]!.metrics_path).toBe('/metrics');
    expect(scrape.scrape_configs[0]!.static_configs[0]!.targets).toEqual([`megaservice:${config.http.port}`]);
    // Grafana's data source is that Prometheus, and every panel uses it by uid.
    const ds = parse(
      readFileSync(join(MONITORING, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8'),
    ) as { datasources: { uid: string; url: string }[] };
    expect(ds.datasources[0]!.url).toBe('http://prometheus:9090');
    for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe(ds.datasources[0]!.uid);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(ds.datasources[0]!.uid);
    }
    // The dashboard provider reads the folder the dashboards are mounted at.
    const provider = parse(
      readFileSync(join(MONITORING, 'grafana/provisioning/dashboards/megaservice.yaml'), 'utf8'),
    ) as { providers: { options: { path: string } }[] };
    const dashboards = grafana!.volumes!.find((v) =>
      v.startsWith('./deploy/monitoring/grafana/dashboards:'),
    )!;
    expect(dashboards.split(':')[1]).toBe(provider.providers[0]!.options.path);
    expect(queries.length).toBeGreaterThan(15);
  });

  it("promtool accepts the Prometheus config and rules, and the rules' own unit tests pass", () => {
    const promtool = join(dirname(prometheusBin()), 'promtool');
    for (const args of [
      ['check', 'config', join(MONITORING, 'prometheus.yml')],
      ['test', 'rules', join(MONITORING, 'alerts.test.yml')],
    ]) {
      const out = spawnSync(promtool, args, { encoding: 'utf8' });
      expect(out.status, `promtool ${args.join(' ')}:\n${out.stdout}${out.stderr}`).toBe(0);
    }
    // Every alert of the rules file has at least one unit test.
    const alerts = (parse(readFileSync(join(MONITORING, 'alerts.yml'), 'utf8')) as RuleFile).groups.flatMap(
      (g) => g.rules.map((r) => r.alert),
    );
    const tested = new Set(
      (
        parse(readFileSync(join(MONITORING, 'alerts.test.yml'), 'utf8')) as {
          tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
        }
      ).tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect(alerts.filter((a) => !tested.has(a))).toEqual([]);
  });

  it('every dashboard query and alert rule works in a real Prometheus scraping a running pipeline', async () => {
    const brokers = env.kafkaBrokers!;
    const topic = uniqueName('monitored');
    const groupId = uniqueName('g');
    await createTopic(brokers, topic, 2);
    const proc = await startPipelineProcess(
      writePipeline(dir, 'p.yaml', {
        kafka: { brokers: [brokers], groupId, partitionsConsumedConcurrently: 2 },
        sources: [{ topics: [topic] }],
        output: {
          database: uniqueName('monitored'),
          table: 'events',
          columns: [
            { name: 'user', type: 'String' },
            { name: 'n', type: 'Int32' },
          ],
        },
        features: [USER_10S_IDLE],
        storage: { url: env.clickhouseUrl, flushIntervalMs: 200 },
        http: { port: 0, host: '127.0.0.1' },
      }),
    );
    // The compose file's scrape settings, pointed at this pipeline and scraping every second.
    const scrape = parse(readFileSync(join(MONITORING, 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    scrape.global = { scrape_interval: '1s', evaluation_interval: '1s' };
    scrape.scrape_configs[0]!.static_configs = [{ targets: [`127.0.0.1:${proc.port}`] }];
    writeFileSync(join(dir, 'prometheus.yml'), stringify(scrape));
    copyFileSync(join(MONITORING, 'alerts.yml'), join(dir, 'alerts.yml'));
    const port = await freePort();
    const prometheus = spawn(
      prometheusBin(),
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let prometheusLog = '';
    prometheus.stderr.on('data', (d: Buffer) => (prometheusLog += d.toString()));
    const query = async (q: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
      return (await res.json()) as { status: string; error?: string; data?: { result: unknown[] } };
    };
    try {
      // Traffic: good records (one window per user, closed by the idle timeout) and two bad ones.
      const producer = kafkaClient(brokers).producer();
      await producer.connect();
      const now = Date.now();
      for (let round = 0; round < 6; round++) {
        await producer.send({
          topic,
          messages: [
            ...Array.from({ length: 500 }, (_, i) => ({
              partition: i % 2,
              value: JSON.stringify({
                user: `u${i % 20}`,
                n: i,
                ts: new Date(now + round * 100).toISOString(),
              }),
            })),
            ...(round === 0
              ? [
                  { partition: 0, value: '{broken' },
                  { partition: 1, value: '[]' },
                ]
              : []),
          ],
        });
        await new Promise((r) => setTimeout(r, 1000));
      }
      await producer.disconnect();
      await waitFor(
        'Prometheus to have scraped the pipeline after the traffic',
        async () => {
          const r = await query(
            'sum(megaservice_records_out_total{module="storage"}) >= 3000 and sum(megaservice_feature_rows_total) > 0',
          ).catch(() => undefined);
          return (r?.data?.result.length ?? 0) > 0;
        },
        60_000,
        500,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${prometheusLog.slice(-2000)}\n${proc.output().slice(-2000)}`);
      });
      await new Promise((r) => setTimeout(r, 3000)); // a few more scrapes for the rates

      // Every metric a query names is one the service exposes (HELP lines list even those without
      // samples yet), and every query evaluates; all but retries have series after this traffic.
      const exposed = new Set([...(await proc.metrics()).matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
      for (const { alert, expr } of rules)
        for (const name of metricsOf(expr))
          expect(exposed.has(baseName(name)), `${alert}: ${name}`).toBe(true);
      // Prometheus loaded the rules and evaluates them without errors against the real series.
      const loaded = (await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
      };
      const evaluated = loaded.data.groups.flatMap((g) => g.rules);
      expect(evaluated.map((r) => r.name).sort()).toEqual(rules.map((r) => r.alert).sort());
      for (const r of evaluated) expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok');
      const onlyAfterAFailure = new Set(['megaservice_retries_total']);
      for (const { panel, expr } of queries) {
        for (const name of metricsOf(expr))
          expect(exposed.has(baseName(name)), `${panel}: ${name}`).toBe(true);
        const r = await query(expr.replaceAll('$__rate_interval', '10s'));
        expect(r.status, `${panel}: ${expr}: ${r.error ?? ''}`).toBe('success');
        if (!metricsOf(expr).some((n) => onlyAfterAFailure.has(n)))
          expect(r.data!.result.length, `${panel}: ${expr} has no series`).toBeGreaterThan(0);
      }
      // KEDA's query (deploy/kubernetes/keda.yaml, for this pipeline's group): one series, as the
      // Prometheus trigger needs, holding the backlog (nothing left after the traffic).
      const scaled = parse(readFileSync(join(ROOT, 'deploy/kubernetes/keda.yaml'), 'utf8')) as {
        spec: { triggers: { metadata: { query: string } }[] };
      };
      const kedaQuery = scaled.spec.triggers[0]!.metadata.query.replace(
        /group="[^"]*"/,
        `group="${groupId}"`,
      );
      expect(kedaQuery).toContain(groupId);
      const backlog = (await query(kedaQuery)) as { data: { result: { value: [number, string] }[] } };
      expect(backlog.data.result.length).toBe(1);
      expect(Number(backlog.data.result[0]!.value[1])).toBe(0);
    } finally {
      prometheus.kill('SIGTERM');
      proc.child.kill('SIGTERM');
      await proc.exited;
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}
