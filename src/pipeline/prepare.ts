import { sourceRouter, type PipelineConfig } from '../config/index.js';
import { ConfigError } from '../core/index.js';
import { prepareDecoder, type Decoder } from '../ingestion/index.js';
import { prepareTransform, type CompiledTransform } from '../transformation/index.js';

/** What each source needs at run time, built before anything connects. */
export interface PreparedStages {
  decoderFor(topic: string): Decoder | undefined;
  transformFor(topic: string): CompiledTransform | undefined;
}

/**
 * Reads schema files, lookup files and custom transform modules, and compiles expressions, for every
 * source; all mistakes are reported together, each naming its key. `megaservice validate` runs this too.
 */
export async function prepareStages(config: PipelineConfig): Promise<PreparedStages> {
  const problems: string[] = [];
  const decoders: Decoder[] = [];
  const transforms: CompiledTransform[] = [];
  for (const [i, source] of config.sources.entries()) {
    for (const [list, make] of [
      [decoders, () => prepareDecoder(source, i, config.baseDir)],
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
  if (problems.length > 0) throw new ConfigError(problems);
  const route = sourceRouter(config.sources);
  return {
    decoderFor: (topic) => decoders[route(topic) ?? -1],
    transformFor: (topic) => transforms[route(topic) ?? -1],
  };
}
