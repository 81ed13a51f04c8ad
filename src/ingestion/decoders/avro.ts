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

/**
 * Plain Avro binary, every value written with one known schema. With `read` (the top-level fields the
 * pipeline reads, see fieldsRead), the other fields are skipped, not decoded. A value that does not
 * decode whole is decoded again with the full schema, so its reason is the same either way.
 */
export function avroFileDecoder(type: Type, read?: ReadonlySet<string>): Decoder {
  let reader = narrowed(type, read);
  let resolver: Resolver | undefined;
  try {
    if (reader !== type) resolver = reader.createResolver(type);
  } catch {
    reader = type; // not expected; the whole record is still right, only slower
  }
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
      if (resolver) {
        try {
          return { fields: toFields(reader.fromBuffer(record.value, resolver)) };
        } catch {
          // read again below, whole
        }
      }
      try {
        return { fields: toFields(type.fromBuffer(record.value)) };
      } catch (err) {
        return { reason: `invalid Avro for ${type.name ?? 'the schema file'}: ${errorMessage(err)}` };
      }
    },
  };
}

/** A writer's values read into a reader: `reader` (maybe narrowed) through `resolver`; `target` whole through `whole`. */
interface Reading {
  readonly reader: Type;
  readonly resolver: Resolver | undefined;
  readonly target: Type;
  readonly whole: Resolver | undefined;
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
  const readings = new Map<string, Reading | Error>();

  function readerFor(topic: string, writerId: number): { id: number | 'fixed'; type: Type } {
    if (reader.kind === 'fixed') return { id: 'fixed', type: reader.type };
    const latestId = reader.kind === 'latest' ? latest.get(subjectOf(topic)) : undefined;
    const id = latestId ?? writerId;
    return { id, type: writers.get(id)! };
  }

  /**
   * How values of a writer schema are read into a reader schema: the whole reader first (a writer it
   * cannot read is refused, even where the fields the pipeline reads would resolve), then only the
   * fields read (see narrowed), or why they cannot be.
   */
  function readingFor(id: number, writer: Type, targetId: number | 'fixed', target: Type): Reading | Error {
    const key = `${id}->${targetId}`;
    let r = readings.get(key);
    if (!r) {
      try {
        const whole = target === writer ? undefined : target.createResolver(writer);
        r = { reader: target, resolver: whole, target, whole };
        const narrow = narrowed(target, read);
        if (narrow !== target) r = { ...r, reader: narrow, resolver: narrow.createResolver(writer) };
      } catch (err) {
        r ??= new Error(`writer schema id ${id} cannot be read as the reader schema: ${errorMessage(err)}`);
      }
      readings.set(key, r);
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
      const { id: targetId, type: target } = readerFor(record.topic, id);
      const reading = readingFor(id, writer, targetId, target);
      if (reading instanceof Error) return { reason: reading.message };
      const bytes = record.value!.subarray(5);
      try {
        return { fields: toFields(reading.reader.fromBuffer(bytes, reading.resolver)) };
      } catch (err) {
        if (reading.reader === reading.target)
          return { reason: `invalid Avro for schema id ${id}: ${errorMessage(err)}` };
      }
      try {
        // read again whole, so the reason is the same with or without narrowing
        return { fields: toFields(reading.target.fromBuffer(bytes, reading.whole)) };
      } catch (err) {
        return { reason: `invalid Avro for schema id ${id}: ${errorMessage(err)}` };
      }
    },
  };
}
