import { isPacked, VALUE } from '../../core/index.js';
import type { Decoder, Decoded } from './decoder.js';

/**
 * Decode one Kafka value as a JSON object, or say why it cannot be. A value in the Confluent wire
 * format (what JSON Schema serializers write: byte 0x00, a 4-byte schema id, then the JSON) is read
 * after its header; JSON text never starts with 0x00, so nothing else is taken for it.
 */
export function decodeJsonValue(value: Buffer | null): Decoded {
  if (value === null) return { reason: 'empty value (tombstone): nothing to decode' };
  return decodeJsonBytes(value, 0, value.length);
}

/** decodeJsonValue of the bytes of `buf` from start to end. */
function decodeJsonBytes(buf: Buffer, start: number, end: number): Decoded {
  const length = end - start;
  const framed = length > 0 && buf[start] === 0;
  if (framed && length < 5)
    return {
      reason: `invalid JSON: starts with byte 0x00 but is too short (${length} bytes) for a schema-registry header`,
    };
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', framed ? start + 5 : start, end));
  } catch (err) {
    const where = framed
      ? ` after the schema-registry header (schema id ${buf.readUInt32BE(start + 1)})`
      : '';
    return { reason: `invalid JSON${where}: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return { reason: `JSON value is ${kind}, expected an object` };
  }
  return { fields: parsed as Record<string, unknown> };
}

export const jsonDecoder: Decoder = {
  prepare: async () => undefined,
  decode(record) {
    if (!isPacked(record)) return decodeJsonValue(record.value);
    const end = record.end(VALUE);
    return end < 0 ? decodeJsonValue(null) : decodeJsonBytes(record.packed, record.start(VALUE), end);
  },
};
