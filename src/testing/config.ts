import { validateConfig, type PipelineConfig } from '../config/index.js';

/**
 * For unit tests (not in the build): a valid pipeline config around the given feature sets, with
 * one output column `user`; validation fills each feature set's defaults.
 */
export function configWithFeatures(features: readonly unknown[]): PipelineConfig {
  return validateConfig({
    kafka: { brokers: ['k:1'], groupId: 'g' },
    sources: [{ topics: ['t'] }],
    output: { table: 'x', columns: [{ name: 'user', type: 'String' }] },
    features,
  });
}
