import protobuf from 'protobufjs';
import descriptorExtension from 'protobufjs/ext/descriptor/index.js';
import { errorMessage, type SourceRecord } from '../../core/index.js';
import type { RegisteredSchema, SchemaRegistry } from '../schemaRegistry.js';
import type { Decoded, Decoder } from './decoder.js';

/**
 * Protobuf values as plain fields: field names as the .proto writes them, enums by name, bytes as
 * base64, 64-bit integers as numbers when they are exact and as decimal strings otherwise, a
 * google.protobuf.Timestamp as an ISO-8601 string, the wrapper types (StringValue, ...) as their
 * value, and absent fields as their defaults (proto3's zero values; null for a message).
 */
const OBJECT_OPTIONS: protobuf.IConversionOptions = {
  enums: String,
  bytes: String,
  defaults: true,
  arrays: true,
};

/** The parts of descriptor.proto read here (protobufjs 8 ships no types for its descriptor extension). */
interface DescriptorProto {
  readonly name?: string | null;
  readonly nestedType?: readonly DescriptorProto[] | null;
}
interface FileDescriptorProto {
  readonly name?: string | null;
  readonly package?: string | null;
  readonly syntax?: string | null;
  readonly messageType?: readonly DescriptorProto[] | null;
  readonly enumType?: readonly unknown[] | null;
}
/** The extension, imported for its side effect too: it adds `fromDescriptor` to Type and Enum. */
const descriptor = descriptorExtension as unknown as {
  FileDescriptorProto: { decode(bytes: Uint8Array): FileDescriptorProto };
};
const typeFromDescriptor = (d: DescriptorProto, edition: string) =>
  (
    protobuf.Type as unknown as { fromDescriptor(d: DescriptorProto, e: string): protobuf.Type }
  ).fromDescriptor(d, edition);
const enumFromDescriptor = (d: unknown, edition: string) =>
  (protobuf.Enum as unknown as { fromDescriptor(d: unknown, e: string): protobuf.Enum }).fromDescriptor(
    d,
    edition,
  );
const Long = protobuf.util.Long as unknown as { isLong(v: unknown): v is { toString(): string } } | undefined;

const WELL_KNOWN = ['any', 'duration', 'empty', 'field_mask', 'struct', 'timestamp', 'wrappers'];

interface Converter {
  toObject(message: protobuf.Message, options?: protobuf.IConversionOptions): Record<string, unknown>;
  fromObject(object: Record<string, unknown>): protobuf.Message;
}

// protobufjs' documented hook for converting well-known types (it ships one for Any). It applies to
// types set up after this, in this thread: every type here is.
protobuf.wrappers['.google.protobuf.Timestamp'] = {
  fromObject(this: Converter, object) {
    return this.fromObject(object as Record<string, unknown>);
  },
  toObject(this: Converter, message, options) {
    const { seconds, nanos } = this.toObject(message, { ...options, longs: Number }) as {
      seconds: number;
      nanos: number;
    };
    return new Date(seconds * 1000 + Math.floor(nanos / 1e6)).toISOString() as unknown as Record<
      string,
      unknown
    >;
  },
};
for (const name of [
  'DoubleValue',
  'FloatValue',
  'Int64Value',
  'UInt64Value',
  'Int32Value',
  'UInt32Value',
  'BoolValue',
  'StringValue',
  'BytesValue',
])
  protobuf.wrappers[`.google.protobuf.${name}`] = {
    fromObject(this: Converter, object) {
      return this.fromObject(object as Record<string, unknown>);
    },
    toObject(this: Converter, message, options) {
      return this.toObject(message, { ...options, defaults: true }).value as Record<string, unknown>;
    },
  };

/** A root that already holds the well-known types (google/protobuf/*.proto), which schemas import. */
function wellKnownRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const name of WELL_KNOWN) {
    const json = protobuf.common.get(`google/protobuf/${name}.proto`);
    if (json?.nested) root.addJSON(json.nested);
  }
  return root;
}

const isWellKnown = (file: string) =>
  file.startsWith('google/protobuf/') && WELL_KNOWN.includes(file.slice(16, -6));

/** 64-bit integers (protobufjs' Long) as exact numbers, or decimal strings past 2^53. */
function plain(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Long?.isLong(v)) {
    const text = v.toString();
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = plain(v[i]);
    return v;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) o[k] = plain(o[k]);
  return o;
}

/** The message types of one file: message index path (joined with ',') -> fully qualified name. */
type FileTypes = ReadonlyMap<string, string>;

function indexDescriptorTypes(fdp: FileDescriptorProto): FileTypes {
  const byIndexes = new Map<string, string>();
  const walk = (messages: readonly DescriptorProto[] | null | undefined, prefix: string, path: number[]) =>
    (messages ?? []).forEach((m, i) => {
      const name = `${prefix}.${m.name}`;
      byIndexes.set([...path, i].join(','), name.slice(1));
      walk(m.nestedType, name, [...path, i]);
    });
  walk(fdp.messageType, fdp.package ? `.${fdp.package}` : '', []);
  return byIndexes;
}

function indexParsedTypes(ns: protobuf.NamespaceBase): FileTypes {
  const byIndexes = new Map<string, string>();
  const walk = (n: protobuf.NamespaceBase, path: number[]) =>
    n.nestedArray
      .filter((t): t is protobuf.Type => t instanceof protobuf.Type)
      .forEach((t, i) => {
        byIndexes.set([...path, i].join(','), t.fullName.slice(1));
        walk(t, [...path, i]);
      });
  walk(ns, []);
  return byIndexes;
}

/**
 * A schema's text as a registry gives it: .proto source (Confluent's registry), or a base64
 * FileDescriptorProto (what Confluent's serializers send, and what Apicurio gives back as is).
 */
function asDescriptor(text: string): FileDescriptorProto | undefined {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return undefined;
  try {
    const fdp = descriptor.FileDescriptorProto.decode(Buffer.from(t, 'base64'));
    return fdp.name || (fdp.messageType?.length ?? 0) > 0 ? fdp : undefined;
  } catch {
    return undefined;
  }
}

/** Adds one file (text or descriptor) to `root`; returns its message types by index path. */
function addFile(root: protobuf.Root, text: string): FileTypes {
  const fdp = asDescriptor(text);
  if (fdp) {
    const edition = fdp.syntax === 'proto3' ? 'proto3' : fdp.syntax === 'editions' ? '2023' : 'proto2';
    const ns = fdp.package ? root.define(fdp.package) : root;
    for (const m of fdp.messageType ?? []) ns.add(typeFromDescriptor(m, edition));
    for (const e of fdp.enumType ?? []) ns.add(enumFromDescriptor(e, edition));
    return indexDescriptorTypes(fdp);
  }
  // The declaration order of the file alone (the shared root may hold more in its package).
  const alone = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
  const types = indexParsedTypes(
    alone.package ? (alone.root.lookup(alone.package)! as protobuf.Namespace) : alone.root,
  );
  protobuf.parse(text, root, { keepCase: true });
  return types;
}

/** Reads the Confluent message-index list after magic byte and schema id: zigzag varints. */
export function readMessageIndexes(value: Buffer, at: number): { indexes: number[]; end: number } {
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (at >= value.length) throw new Error('the message-index list runs past the end of the value');
      const b = value[at++]!;
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new Error('a message index is not a valid varint');
    }
    return (result >>> 1) ^ -(result & 1); // zigzag
  };
  const count = varint();
  if (count < 0 || count > 100) throw new Error(`invalid message-index count ${count}`);
  if (count === 0) return { indexes: [0], end: at }; // the first message type, in one byte
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) {
    const index = varint();
    if (index < 0) throw new Error(`invalid message index ${index}`);
    indexes.push(index);
  }
  return { indexes, end: at };
}

function toFields(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  return plain(type.toObject(type.decode(bytes), OBJECT_OPTIONS)) as Record<string, unknown>;
}

/** Plain Protobuf values, every one of `type`. */
export function protobufFileDecoder(type: protobuf.Type): Decoder {
  const name = type.fullName.slice(1);
  return {
    prepare: async () => undefined,
    decode(record): Decoded {
      if (record.value === null) return { reason: 'empty value (tombstone): nothing to decode' };
      try {
        return { fields: toFields(type, record.value) };
      } catch (err) {
        return { reason: `invalid Protobuf for ${name}: ${errorMessage(err)}` };
      }
    },
  };
}

/** Loads a .proto file (and its imports, relative to it) and finds the message type. */
export function loadProtoType(path: string, messageType: string): protobuf.Type {
  const root = new protobuf.Root();
  root.loadSync(path, { keepCase: true });
  root.resolveAll();
  const wanted = messageType.replace(/^\./, '');
  const found = root.lookup(wanted);
  if (!(found instanceof protobuf.Type)) {
    const all: string[] = [];
    const walk = (n: protobuf.NamespaceBase) =>
      n.nestedArray.forEach((c) => {
        if (c instanceof protobuf.Type) all.push(c.fullName.slice(1));
        if (c instanceof protobuf.Namespace || c instanceof protobuf.Type) walk(c);
      });
    walk(root);
    throw new Error(`no message type ${wanted} in it (it has: ${all.join(', ') || 'none'})`);
  }
  return found;
}

/** A writer schema from the registry, ready to decode: its message types by index path. */
interface WriterSchema {
  readonly root: protobuf.Root;
  readonly types: FileTypes;
}

const MAGIC = 0;

/**
 * Confluent wire format through a registry: byte 0, the schema id (4 bytes, big-endian), the
 * message-index list that names the value's type in the schema's file, then the Protobuf message.
 * Schemas are fetched by id (cached) with the files they reference; well-known types are built in.
 */
export function protobufRegistryDecoder(registry: SchemaRegistry): Decoder {
  /** Per schema id: the schema, or why it cannot be used (undefined: not fetched yet). */
  const writers = new Map<number, WriterSchema | string>();
  const types = new Map<string, protobuf.Type | string>();

  async function load(id: number): Promise<WriterSchema | string> {
    const main = await registry.schemaRecord(id);
    if (!main) return `schema id ${id} is not in the schema registry`;
    if ((main.schemaType ?? 'AVRO') !== 'PROTOBUF')
      return `schema id ${id} is a ${main.schemaType ?? 'AVRO'} schema, not Protobuf`;
    const root = wellKnownRoot();
    const added = new Set<string>();
    // References first (a file's imports), depth first, each file once.
    const addReferences = async (schema: RegisteredSchema, trail: string) => {
      for (const ref of schema.references ?? []) {
        if (added.has(ref.name) || isWellKnown(ref.name)) continue;
        added.add(ref.name);
        const imported = await registry.subjectVersion(ref.subject, ref.version);
        if (!imported)
          throw new Error(
            `${trail} references ${ref.name} (subject ${ref.subject} version ${ref.version}), which the registry does not have`,
          );
        await addReferences(imported, `${trail} > ${ref.name}`);
        addFile(root, imported.schema);
      }
    };
    try {
      await addReferences(main, `schema id ${id}`);
      const fileTypes = addFile(root, main.schema);
      root.resolveAll();
      return { root, types: fileTypes };
    } catch (err) {
      if ((err as { kind?: unknown }).kind) throw err; // the registry itself failed: retried
      return `schema id ${id} cannot be read as Protobuf: ${errorMessage(err)}`;
    }
  }

  function typeFor(id: number, writer: WriterSchema, indexes: number[]): protobuf.Type | string {
    const key = `${id}:${indexes.join(',')}`;
    let t = types.get(key);
    if (t === undefined) {
      const name = writer.types.get(indexes.join(','));
      t = name
        ? writer.root.lookupType(name)
        : `schema id ${id} has no message at index path [${indexes.join(', ')}]`;
      types.set(key, t);
    }
    return t;
  }

  return {
    async prepare(records: readonly SourceRecord[]) {
      const ids = new Set<number>();
      for (const r of records) {
        const v = r.value;
        if (v !== null && v.length >= 5 && v[0] === MAGIC) {
          const id = v.readUInt32BE(1);
          if (!writers.has(id)) ids.add(id);
        }
      }
      for (const id of ids) writers.set(id, await load(id));
    },

    decode(record): Decoded {
      const v = record.value;
      if (v === null) return { reason: 'empty value (tombstone): nothing to decode' };
      if (v.length < 6 || v[0] !== MAGIC) {
        const first = v.length === 0 ? 'empty' : `0x${v[0]!.toString(16).padStart(2, '0')}`;
        return {
          reason: `not in the Confluent wire format: expected magic byte 0x00, a 4-byte schema id and message indexes, got ${first} (${v.length} bytes)`,
        };
      }
      const id = v.readUInt32BE(1);
      const writer = writers.get(id);
      if (writer === undefined || typeof writer === 'string')
        return { reason: writer ?? `schema id ${id} was not fetched` };
      let at: { indexes: number[]; end: number };
      try {
        at = readMessageIndexes(v, 5);
      } catch (err) {
        return { reason: `invalid Protobuf wire format for schema id ${id}: ${errorMessage(err)}` };
      }
      const type = typeFor(id, writer, at.indexes);
      if (typeof type === 'string') return { reason: type };
      try {
        return { fields: toFields(type, v.subarray(at.end)) };
      } catch (err) {
        return {
          reason: `invalid Protobuf for ${type.fullName.slice(1)} (schema id ${id}): ${errorMessage(err)}`,
        };
      }
    },
  };
}
