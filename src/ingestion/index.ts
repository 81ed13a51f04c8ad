export { createKafkaSource } from './kafkaSource.js';
export type { KafkaSource, KafkaSourceConfig, KafkaSourceDeps } from './kafkaSource.js';
export { decodeRecords, prepareDecoder } from './decode.js';
export { decodeJsonValue } from './decoders/json.js';
export type { Decoder, Decoded } from './decoders/decoder.js';
export { createSchemaRegistry } from './schemaRegistry.js';
export { createOffsetsRound } from './offsetsRound.js';
