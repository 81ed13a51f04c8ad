import type { OutputRow, RejectedRecord, SourceRecord } from '../core/index.js';

function sourceColumns(s: SourceRecord): Record<string, unknown> {
  return {
    _topic: s.topic,
    _partition: s.partition,
    _offset: s.offset,
    _timestamp_ms: s.timestamp,
    _key: s.key === null ? null : s.key.toString('utf8'),
  };
}

/** An insert line's start up to the offset: the same for every row of a lane (a batch). */
export function insertLinePrefix(lane: { topic: string; partition: number }): string {
  return `{"_topic":${JSON.stringify(lane.topic)},"_partition":${lane.partition},"_offset":"`;
}

/** The message key as a JSON value: a string, or null. */
const keyJson = (key: Buffer | null) => (key === null ? 'null' : JSON.stringify(key.toString('utf8')));

/**
 * An output row as one JSONEachRow line: source columns first, then the declared columns. Built by
 * joining the source columns to the stringified values (about 20% faster than merging the two into
 * one object and stringifying that). Offsets are decimal digits, as Kafka gives them: no escaping.
 * A batch passes its lane's `prefix`, built once.
 */
export function toInsertLine(row: OutputRow, prefix = insertLinePrefix(row.source)): string {
  const s = row.source;
  const head = prefix + s.offset + '","_timestamp_ms":' + s.timestamp + ',"_key":' + keyJson(s.key);
  const values = JSON.stringify(row.values);
  return values === '{}' ? `${head}}` : `${head},${values.slice(1)}`;
}

/** Text formats of rows encoded ahead; the engine's capabilities pick one (`Capabilities.lineFormat`). */
export type LineFormat = 'JSONEachRow' | 'JSONCompactEachRow';

/**
 * How rows encoded ahead (output and feature rows) are inserted: RowBinary where the connection
 * carries bytes (a server, over HTTP), else the engine's line format.
 */
export type RowFormat = LineFormat | 'RowBinary';

/** A compact insert line's start up to the offset: the same for every row of a lane. */
export function compactLinePrefix(lane: { topic: string; partition: number }): string {
  return `[${JSON.stringify(lane.topic)},${lane.partition},"`;
}

/**
 * An output row as one JSONCompactEachRow line: the source columns (SOURCE_COLUMNS' order), then the
 * declared columns in their order, which is the order projection gives `values` its keys.
 */
export function toCompactInsertLine(row: OutputRow, prefix = compactLinePrefix(row.source)): string {
  const s = row.source;
  const head = prefix + s.offset + '",' + s.timestamp + ',' + keyJson(s.key);
  const values = JSON.stringify(Object.values(row.values));
  return values === '[]' ? `${head}]` : `${head},${values.slice(1)}`;
}

/** Raw bytes are kept as UTF-8 text when they are valid UTF-8, else base64 (value_encoding says which). */
function encodeRaw(value: Buffer | null): { value: string | null; value_encoding: string } {
  if (value === null) return { value: null, value_encoding: 'null' };
  const text = value.toString('utf8');
  return Buffer.byteLength(text) === value.length && Buffer.from(text, 'utf8').equals(value)
    ? { value: text, value_encoding: 'utf8' }
    : { value: value.toString('base64'), value_encoding: 'base64' };
}

export function toDeadLetterRow(r: RejectedRecord): Record<string, unknown> {
  return Object.assign(sourceColumns(r.source), {
    stage: r.stage,
    reason: r.reason,
    ...encodeRaw(r.source.value),
    headers: JSON.stringify(r.source.headers),
  });
}
