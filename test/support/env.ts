import { inject } from 'vitest';

/** The services the global setup found; a test that needs a missing one skips locally, fails in CI. */
export function services() {
  const s = inject('services');
  return {
    kafkaBrokers: s.kafkaBrokers,
    clickhouseUrl: s.clickhouseUrl,
    registryUrl: s.registryUrl,
    /** For describe.skipIf: true when `what` is missing (never true in CI: global setup fails first). */
    missing: (what: 'kafka' | 'clickhouse' | 'registry') =>
      !{ kafka: s.kafkaBrokers, clickhouse: s.clickhouseUrl, registry: s.registryUrl }[what],
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}
