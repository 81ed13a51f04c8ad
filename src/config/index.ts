export { loadConfig, validateConfig, parseDocument } from './load.js';
export { ENV_OVERRIDES } from './env.js';
export { SCALAR_TYPES } from './schema.js';
export { FIELD_TYPES, CAST_TYPES } from './sourceSchema.js';
export { AGGREGATIONS, aggregationColumns } from './featureSchema.js';
export type { FeatureSetConfig, AggregationConfig } from './featureSchema.js';
export type { SourceConfig, TransformStep } from './sourceSchema.js';
export { sourceRouter } from './routing.js';
export { outputPlan, deadLetterTableName } from './outputs.js';
export { fieldsRead } from './fieldsRead.js';
export { HEADER_FIELD, KEY_FIELD, TIMESTAMP_FIELD } from './messageFields.js';
export type { OutputPlan, OutputTable } from './outputs.js';
export type {
  PipelineConfig,
  PipelineConfigInput,
  ColumnConfig,
  KafkaConfig,
  StorageConfig,
  OutputConfig,
  ScalarType,
} from './schema.js';
