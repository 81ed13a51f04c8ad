export { loadConfig, validateConfig, parseDocument } from './load.js';
export { ENV_OVERRIDES } from './env.js';
export { SCALAR_TYPES } from './schema.js';
export type {
  PipelineConfig,
  PipelineConfigInput,
  ColumnConfig,
  KafkaConfig,
  StorageConfig,
  OutputConfig,
  ScalarType,
} from './schema.js';
