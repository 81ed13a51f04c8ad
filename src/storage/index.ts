export { createClickHouseSink } from './sink.js';
export type { ClickHouseSink, ClickHouseSinkConfig } from './sink.js';
export { createClickHouseClient, describeTarget } from './client.js';
export type { ClientConfig } from './client.js';
export { classifyClickHouseError, clickhouseCode } from './classify.js';
export { createTableSql, outputTableSpec, deadLetterTableSpec, SOURCE_COLUMNS } from './schema.js';
export type { Capabilities } from './capabilities.js';
export { DLQ_HEADERS } from './deadLetterTopic.js';
