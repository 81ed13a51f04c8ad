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

/** Whether a value of this type can hold an enum, whose index only a read checks (a skip does not). */
function holdsEnum(type: Type, seen = new Set<Type>()): boolean {
  if (seen.has(type)) return false; // a recursive type: its other branches decide
  seen.add(type);
  const t = type as Type & {
    fields?: { type: Type }[];
    types?: Type[];
    itemsType?: Type;
    valuesType?: Type;
    underlyingType?: Type;
  };
  if (type.typeName === 'enum') return true;
  const inner = [
    ...(t.fields?.map((f) => f.type) ?? []),
    ...(t.types ?? []),
    ...[t.itemsType, t.valuesType, t.underlyingType].filter((x): x is Type => x !== undefined),
  ];
  return inner.some((x) => holdsEnum(x, seen));
}

/**
 * The schema's record with only the fields the pipeline reads (and any that may hold an enum): read
 * through a resolver from the full schema, avsc skips the other fields' bytes without building their
 * strings and objects. Without such fields to leave out, the schema itself.
 */
function narrowed(type: Type, read: ReadonlySet<string> | undefined): Type {
  const fields = (type as Type & { fields?: { name: string; type: Type }[] }).fields;
  if (!read || type.typeName !== 'record' || !fields) return type;
  const keep = fields.map((f) => read.has(f.name) || holdsEnum(f.type));
  if (keep.every(Boolean)) return type;
  try {
    return narrowedRecord(type, fields, keep);
  } catch {
    return type; // not expected; the whole record is still right, only slower
  }
}

function narrowedRecord(type: Type, fields: { name: string; type: Type }[], keep: boolean[]): Type {
  // Defaults and aliases as the schema writes them (a reader's default fills a field its writer lacks).
  const written = (
    type.schema({ exportAttrs: true }) as { fields: { default?: unknown; aliases?: string[] }[] }
  ).fields;
  return avro.Type.forSchema({
    type: 'record',
    name: type.name!,
    fields: fields
      .map((f, i) => ({
        name: f.name,
        type: f.type as unknown as avro.Schema, // the field's own type: named types defined elsewhere stay known
        ...(written[i]!.default !== undefined ? { default: written[i]!.default } : {}),
        ...(written[i]!.aliases ? { aliases: written[i]!.aliases } : {}),
      }))
      .filter((_, i) => keep[i]),
  } as avro.Schema);
}

/** A writer's values read into a reader: `reader` (maybe narrowed) through `resolver`; `target` whole through `whole`. */
interface Reading {
  readonly reader: Type;
  readonly resolver: Resolver | undefined;
  readonly target: Type;
  readonly whole: Resolver | undefined;
}

/**
 * How values written with `writer` are read into `target`: through the whole target first, which
 * throws when it cannot read the writer (even where the fields read would resolve), then into only
 * the fields read (see narrowed).
 */
function readingOf(target: Type, writer: Type, read: ReadonlySet<string> | undefined): Reading {
  const whole = target === writer ? undefined : target.createResolver(writer);
  const narrow = narrowed(target, read);
  if (narrow !== target) {
    try {
      return { reader: narrow, resolver: narrow.createResolver(writer), target, whole };
    } catch {
      // not expected; the whole record is still right, only slower
    }
  }
  return { reader: target, resolver: whole, target, whole };
}

/**
 * A value's fields: read into the fields read, and a value that does not read so is read again
 * whole, so that what it throws (the reason it is dead-lettered) is the same either way.
 */
function fieldsOf(r: Reading, bytes: Buffer): Record<string, unknown> {
  if (r.reader !== r.target) {
    try {
      return toFields(r.reader.fromBuffer(bytes, r.resolver));
    } catch {
      // read again whole
    }
  }
  return toFields(r.target.fromBuffer(bytes, r.whole));
}

/**
 * Plain Avro binary, every value written with one known schema. With `read` (the top-level fields the
 * pipeline reads, see fieldsRead), the other fields are skipped, not decoded.
 */
export function avroFileDecoder(type: Type, read?: ReadonlySet<string>): Decoder {
  const reading = readingOf(type, type, read);
  const { reader, resolver } = reading;
  return {
    prepare: async () => undefined,
    decode(record): Decoded {
      if (isPacked(record)) {
        // In the batch's buffer, without a view. Only a whole, valid value is taken this way: any
        // other is read again below, alone, so that its reason is fromBuffer's.
        const end = record.end(VALUE);
        if (end >= 0) {
          try {
            const { value, offset } = reader.decode(record.packed, record.start(VALUE), resolver);
            if (offset === end) return { fields: toFields(value) };
          } catch {
            // read again below
          }
        }
      }
      if (record.value === null) return { reason: 'empty value (tombstone): nothing to decode' };
      try {
        return { fields: fieldsOf(reading, record.value) };
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
  read?: ReadonlySet<string>,
): Decoder {
  // One Type instance per schema id: avsc resolvers belong to the reader instance they were made by.
  const writers = new Map<number, Type | null>(); // null: the registry does not know this id
  const latest = new Map<string, number | null>(); // subject -> schema id of its latest version
  // Per writer and reader instance (both stable per id), without building a key per record.
  const readings = new Map<Type, Map<Type, Reading | Error>>();

  function readerFor(topic: string, writerId: number): Type {
    if (reader.kind === 'fixed') return reader.type;
    const latestId = reader.kind === 'latest' ? latest.get(subjectOf(topic)) : undefined;
    return writers.get(latestId ?? writerId)!;
  }

  function readingFor(id: number, writer: Type, target: Type): Reading | Error {
    let byTarget = readings.get(writer);
    if (!byTarget) readings.set(writer, (byTarget = new Map()));
    let r = byTarget.get(target);
    if (!r) {
      try {
        r = readingOf(target, writer, read);
      } catch (err) {
        r = new Error(`writer schema id ${id} cannot be read as the reader schema: ${errorMessage(err)}`);
      }
      byTarget.set(target, r);
    }
    return r;
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
      const reading = readingFor(id, writer, readerFor(record.topic, id));
      if (reading instanceof Error) return { reason: reading.message };
      try {
        return { fields: fieldsOf(reading, record.value!.subarray(5)) };
      } catch (err) {
        return { reason: `invalid Avro for schema id ${id}: ${errorMessage(err)}` };
      }
    },
  };
}
