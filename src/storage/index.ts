export { createClickHouseSink } from './sink.js';
export type { ClickHouseSink, ClickHouseSinkConfig } from './sink.js';
export {
  CHDB_LIBRARY,
  createClickHouseClient,
  describeTarget,
  rowBinaryInserter,
  storageTls,
  type InsertRowBinary,
} from './client.js';
export type { ClientConfig } from './client.js';
export { classifyClickHouseError, clickhouseCode } from './classify.js';
export { createTableSql, outputTableSpec, deadLetterTableSpec, SOURCE_COLUMNS } from './schema.js';
export type { Capabilities } from './capabilities.js';
export { DLQ_HEADERS } from './deadLetterTopic.js';
export { batchEncoder, batchSpan } from './encode.js';
export { defaultInsertSettings, defaultTableSettings, detectCapabilities } from './capabilities.js';
export type { BinaryRows, EncodedBatch, EncoderTables } from './encode.js';
export { createForwardSink, FORWARD_SOURCE_HEADER } from './forwardSink.js';
export type { ForwardSink } from './forwardSink.js';
export { encodeRowBinary } from './rowBinary.js';
export { featureTableSpec } from './featureTables.js';
