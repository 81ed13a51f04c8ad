import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Pipeline } from '../pipeline/index.js';
import { ROOT } from './environment.js';
import { produceAtRateApart } from './live.js';
import { drained } from './pipelineRun.js';

/**
 * Resident memory of this process while a pipeline takes live load at `rate` for 5 s (steady), then
 * while the ClickHouse server is down for `stallSeconds` (stall); the server is started again and
 * the pipeline drained and stopped.
 */
export async function memoryThroughStall(
  brokers: string,
  topic: string,
  pipeline: Pipeline,
  rate: number,
  stallSeconds: number,
): Promise<{ steady: number; stall: number }> {
  const services = (action: 'up' | 'down') =>
    promisify(execFile)('bash', [join(ROOT, 'scripts/services.sh'), action, 'clickhouse']);
  const producing = produceAtRateApart(brokers, topic, rate, stallSeconds + 10, 'json');
  const samples = { steady: 0, stall: 0 };
  const sample = (k: 'steady' | 'stall') => (samples[k] = Math.max(samples[k], process.memoryUsage().rss));
  for (let t = 0; t < 50; t++) {
    sample('steady');
    await new Promise((r) => setTimeout(r, 100));
  }
  await services('down');
  const until = Date.now() + stallSeconds * 1000;
  while (Date.now() < until) {
    sample('stall');
    await new Promise((r) => setTimeout(r, 200));
  }
  await services('up');
  const sent = await producing;
  await drained(pipeline, sent);
  await pipeline.stop(Date.now() + 30_000);
  return samples;
}
