import type { Decoder, Decoded } from './decoder.js';

/** Decode one Kafka value as a JSON object, or say why it cannot be. */
export function decodeJsonValue(value: Buffer | null): Decoded {
  if (value === null) return { reason: 'empty value (tombstone): nothing to decode' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { reason: `invalid JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : typeof parsed;
    return { reason: `JSON value is ${kind}, expected an object` };
  }
  return { fields: parsed as Record<string, unknown> };
}

export const jsonDecoder: Decoder = {
  prepare: async () => undefined,
  decode: (record) => decodeJsonValue(record.value),
};
