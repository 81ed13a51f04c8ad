import { inject } from 'vitest';

/** The services the global setup found (it fails the run when one is missing: nothing skips). */
export function services() {
  const s = inject('services');
  return {
    kafkaBrokers: s.kafkaBrokers,
    clickhouseUrl: s.clickhouseUrl,
    registryUrl: s.registryUrl,
    secured: s.secured,
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}
