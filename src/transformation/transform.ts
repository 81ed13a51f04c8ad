import { map, type OperatorFunction } from 'rxjs';
import type { SourceConfig } from '../config/index.js';
import {
  ConfigError,
  withRecords,
  type Batch,
  type DecodedRecord,
  type RejectedRecord,
} from '../core/index.js';
import { compileStep, StepError, type Step } from './steps.js';

/** A source's declared steps, compiled: applied in order, the first reject or filter ends the record. */
export interface CompiledTransform {
  readonly steps: readonly Step[];
}

/** Compile a source's transform steps; mistakes become a ConfigError naming the step's key path. */
export async function prepareTransform(
  source: SourceConfig,
  index: number,
  baseDir: string,
): Promise<CompiledTransform> {
  const steps: Step[] = [];
  const problems: string[] = [];
  for (let i = 0; i < source.transform.length; i++) {
    try {
      steps.push(await compileStep(source.transform[i]!, baseDir));
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      problems.push(`sources[${index}].transform[${i}].${err.key}: ${err.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { steps };
}

/**
 * Transformation stage: each record goes through its source's steps. Rejected records carry the
 * step's reason; filtered ones are counted on the batch. Pure: no clock, network or environment.
 */
export function transform(
  transformFor: (topic: string) => CompiledTransform | undefined,
): OperatorFunction<Batch<DecodedRecord>, Batch<DecodedRecord>> {
  return map((batch) => {
    const t = transformFor(batch.lane.topic);
    if (!t || t.steps.length === 0) return batch;
    const records: DecodedRecord[] = [];
    const rejected: RejectedRecord[] = [];
    let filtered = 0;
    next: for (const record of batch.records) {
      for (const step of t.steps) {
        const outcome = step(record.fields, record.source);
        if (outcome === undefined) continue;
        if (outcome === 'filtered') filtered++;
        else rejected.push({ source: record.source, stage: 'transformation', reason: outcome.reject });
        continue next;
      }
      records.push(record);
    }
    return withRecords(batch, records, rejected, filtered);
  });
}
