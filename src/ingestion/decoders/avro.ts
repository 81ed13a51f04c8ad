import avro from 'avsc';
import { errorMessage, isPacked, VALUE, type SourceRecord } from '../../core/index.js';
import type { SchemaRegistry } from '../schemaRegistry.js';
import type { Decoded, Decoder } from './decoder.js';

type Type = avro.Type;
type Resolver = ReturnType<Type['createResolver']>;

/** avsc values are class instances with Buffers for bytes; downstream wants plain fields. */
function toFields(value: unknown): Record<string, unknown> {
  return value as Record<string, unknown>;
}

export function parseAvroSchema(text: string): Type {
  return avro.Type.forSchema(JSON.parse(text) as avro.Schema);
}

/** Plain Avro binary, every value written with one known schema. */
export function avroFileDecoder(type: Type): Decoder {
  return {
    prepare: async () => undefined,
    decode(record): Decoded {
      if (isPacked(record)) {
        // In the batch's buffer, without a view. Only a whole, valid value is taken this way: any
        // other is read again below, alone, so that its reason is fromBuffer's.
        const end = record.end(VALUE);
        if (end >= 0) {
          try {
            const { value, offset } = type.decode(record.packed, record.start(VALUE));
            if (offset === end) return { fields: toFields(value) };
          } catch {
            // read again below
          }
        }
      }
      if (record.value === null) return { reason: 'empty value (tombstone): nothing to decode' };
      try {
        return { fields: toFields(type.fromBuffer(record.value)) };
      } catch (err) {
        return { reason: `invalid Avro for ${type.name ?? 'the schema file'}: ${errorMessage(err)}` };
      }
    },
  };
}

export type ReaderSchema = { kind: 'writer' } | { kind: 'latest' } | { kind: 'fixed'; type: Type };

const MAGIC = 0;

function schemaIdOf(value: Buffer | null): number | { reason: string } {
  if (value === null) return { reason: 'empty value (tombstone): nothing to decode' };
  if (value.length < 5 || value[0] !== MAGIC) {
    const first = value.length === 0 ? 'empty' : `0x${value[0]!.toString(16).padStart(2, '0')}`;
    return {
      reason: `not in the Confluent wire format: expected magic byte 0x00 and a 4-byte schema id, got ${first} (${value.length} bytes)`,
    };
  }
  return value.readUInt32BE(1);
}

/**
 * Confluent wire format through a registry: writer schemas are fetched by id (cached), and resolved
 * into the reader schema so a producer that moves to a newer compatible schema keeps working.
 */
export function avroRegistryDecoder(
  registry: SchemaRegistry,
  reader: ReaderSchema,
  subjectOf: (topic: string) => string,
): Decoder {
  // One Type instance per schema id: avsc resolvers belong to the reader instance they were made by.
  const writers = new Map<number, Type | null>(); // null: the registry does not know this id
  const latest = new Map<string, number | null>(); // subject -> schema id of its latest version
  const resolvers = new Map<string, Resolver | Error>();

  function readerFor(topic: string, writerId: number): { id: number | 'fixed'; type: Type } {
    if (reader.kind === 'fixed') return { id: 'fixed', type: reader.type };
    const latestId = reader.kind === 'latest' ? latest.get(subjectOf(topic)) : undefined;
    const id = latestId ?? writerId;
    return { id, type: writers.get(id)! };
  }

  return {
    async prepare(records: readonly SourceRecord[]) {
      const newIds = new Set<number>();
      const topics = new Set<string>();
      for (const r of records) {
        const id = schemaIdOf(r.value);
        if (typeof id === 'number' && !writers.has(id)) {
          newIds.add(id);
          topics.add(r.topic);
        }
      }
      for (const id of newIds) {
        const text = await registry.schemaById(id);
        writers.set(id, text === undefined ? null : parseAvroSchema(text));
      }
      // A writer schema we have not seen may be newer than the reader we hold: read the latest again.
      if (reader.kind === 'latest') {
        for (const topic of topics) {
          const subject = subjectOf(topic);
          const l = await registry.latest(subject);
          if (l && !writers.has(l.id)) writers.set(l.id, parseAvroSchema(l.schema));
          latest.set(subject, l ? l.id : null);
        }
      }
    },

    decode(record): Decoded {
      const id = schemaIdOf(record.value);
      if (typeof id !== 'number') return id;
      const writer = writers.get(id);
      if (!writer) return { reason: `schema id ${id} is not in the schema registry` };
      const { id: targetId, type: target } = readerFor(record.topic, id);
      try {
        if (target === writer) return { fields: toFields(writer.fromBuffer(record.value!.subarray(5))) };
        const key = `${id}->${targetId}`;
        let resolver = resolvers.get(key);
        if (!resolver) {
          try {
            resolver = target.createResolver(writer);
          } catch (err) {
            resolver = new Error(
              `writer schema id ${id} cannot be read as the reader schema: ${errorMessage(err)}`,
            );
          }
          resolvers.set(key, resolver);
        }
        if (resolver instanceof Error) return { reason: resolver.message };
        return { fields: toFields(target.fromBuffer(record.value!.subarray(5), resolver)) };
      } catch (err) {
        return { reason: `invalid Avro for schema id ${id}: ${errorMessage(err)}` };
      }
    },
  };
}
