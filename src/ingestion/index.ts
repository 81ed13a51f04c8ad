export { createKafkaSource } from './kafkaSource.js';
export type { KafkaSource, KafkaSourceConfig, KafkaSourceDeps } from './kafkaSource.js';
export { decodeJson, decodeJsonValue } from './decodeJson.js';
