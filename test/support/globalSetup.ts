import type { TestProject } from 'vitest/node';
import { resolveServices, type Services, type Stoppable } from './resolveServices.js';

declare module 'vitest' {
  export interface ProvidedContext {
    services: Services;
  }
}

const stoppers: Stoppable[] = [];

export async function setup(project: TestProject): Promise<void> {
  const services = await resolveServices(stoppers);
  const missing = [!services.kafkaBrokers && 'Kafka', !services.clickhouseUrl && 'ClickHouse server'].filter(
    Boolean,
  );
  if (missing.length > 0) {
    // Nothing skips, in CI or not: an integration run without its services is a failure.
    throw new Error(
      `${missing.join(' and ')} cannot be reached (start them with: npm run services -- up): ${services.problems.join('; ')}`,
    );
  }
  process.stderr.write(
    `[services] kafka=${services.kafkaBrokers ?? 'none'} (${services.origin.kafka ?? '-'}), ` +
      `clickhouse=${services.clickhouseUrl ?? 'none'} (${services.origin.clickhouse ?? '-'}), ` +
      `registry=${services.registryUrl ?? 'none'} (${services.origin.registry ?? '-'})\n`,
  );
  project.provide('services', services);
}

export async function teardown(): Promise<void> {
  // Containers we started are ours to stop; services the local script started stay up for the next
  // run (.ci/run and `npm run services -- down` stop them).
  await Promise.all(stoppers.map((s) => s.stop()));
}
