import type { RejectedRecord, SourceRecord } from '../core/index.js';

function sourceColumns(s: SourceRecord): Record<string, unknown> {
  return {
    _topic: s.topic,
    _partition: s.partition,
    _offset: s.offset,
    _timestamp_ms: s.timestamp,
    _key: s.key === null ? null : s.key.toString('utf8'),
  };
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
