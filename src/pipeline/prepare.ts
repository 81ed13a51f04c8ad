import type { OperatorFunction } from 'rxjs';
import {
  fieldsRead,
  outputPlan,
  sourceRouter,
  type ColumnConfig,
  type PipelineConfig,
} from '../config/index.js';
import {
  ConfigError,
  guarded,
  kafkaConnectionOptions,
  loadTokenModule,
  type Batch,
  type DecodedRecord,
  type OutputRow,
  type SourceRecord,
  type StageMeter,
} from '../core/index.js';
import { commitMetadataProblem, extractFeatures, type WindowCounts } from '../extraction/index.js';
import { decodeRecords, prepareDecoder, type Decoder } from '../ingestion/index.js';
import { storageTls } from '../storage/index.js';
import { prepareTransform, transform, type CompiledTransform } from '../transformation/index.js';

/** What each source needs at run time, built before anything connects. */
export interface PreparedStages {
  decoderFor(topic: string): Decoder | undefined;
  transformFor(topic: string): CompiledTransform | undefined;
  /** The columns of the table a topic's records are stored in (none in hybrid mode). */
  columnsFor(topic: string): readonly ColumnConfig[];
}

/**
 * Reads schema files, lookup files and custom transform modules, and compiles expressions, for every
 * source, and the TLS files; all mistakes are reported together, each naming its key. `megaservice validate` runs this too.
 */
export async function prepareStages(config: PipelineConfig): Promise<PreparedStages> {
  const problems: string[] = [];
  const decoders: Decoder[] = [];
  const transforms: CompiledTransform[] = [];
  for (const [i, source] of config.sources.entries()) {
    for (const [list, make] of [
      [decoders, () => prepareDecoder(source, i, config.baseDir, fieldsRead(config, i))],
      [transforms, () => prepareTransform(source, i, config.baseDir)],
    ] as const) {
      try {
        (list as unknown[]).push(await make());
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.issues);
      }
    }
  }
  for (const readTlsFiles of [
    () => kafkaConnectionOptions(config.kafka, config.baseDir),
    () => storageTls({ ...config.storage, baseDir: config.baseDir }),
  ]) {
    try {
      readTlsFiles();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.issues);
    }
  }
  const tokenModule = config.kafka.sasl?.tokenModule;
  if (tokenModule) {
    try {
      await loadTokenModule(tokenModule, config.baseDir);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.issues);
    }
  }
  const metadata = commitMetadataProblem(config.features);
  if (metadata) problems.push(metadata);
  if (problems.length > 0) throw new ConfigError(problems);
  const route = sourceRouter(config.sources);
  const outputs = outputPlan(config);
  return {
    decoderFor: (topic) => decoders[route(topic) ?? -1],
    transformFor: (topic) => transforms[route(topic) ?? -1],
    columnsFor: (topic) => outputs?.tables[outputs.tableOf(topic) ?? -1]?.columns ?? [],
  };
}

/**
 * The per-record part of the chain, each stage guarded and counted: decode, transform, extract.
 * The main thread runs it with `workers: 0`, each worker thread otherwise.
 */
export function recordStages(
  config: PipelineConfig,
  stages: PreparedStages,
  meter: StageMeter,
  openWindows: Map<string, WindowCounts>,
  onGeneration: (listener: (generation: number) => void) => void,
): OperatorFunction<Batch<SourceRecord>, Batch<OutputRow>> {
  const decode = guarded(decodeRecords(stages.decoderFor), 'ingestion', meter);
  const steps = guarded(transform(stages.transformFor), 'transformation', meter);
  const extract = guarded(
    extractFeatures(stages.columnsFor, config.features, openWindows, onGeneration),
    'extraction',
    meter,
  );
  return (batches) => batches.pipe(decode, steps, extract);
}

/** Hybrid mode's chain: decode and transform only (see `forward` in the config). */
export function forwardStages(
  stages: PreparedStages,
  meter: StageMeter,
): OperatorFunction<Batch<SourceRecord>, Batch<DecodedRecord>> {
  const decode = guarded(decodeRecords(stages.decoderFor), 'ingestion', meter);
  const steps = guarded(transform(stages.transformFor), 'transformation', meter);
  return (batches) => batches.pipe(decode, steps);
}
