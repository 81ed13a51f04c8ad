/**
 * Names that read the Kafka message instead of a record field, where a config names a field: the
 * message key (entity only), its timestamp (event time only), and a header (`$header.<name>`).
 */
export const KEY_FIELD = '$key';
export const TIMESTAMP_FIELD = '$timestamp';
export const HEADER_FIELD = '$header.';
