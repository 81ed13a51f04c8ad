import { PipelineError, errorMessage } from '../core/index.js';

export interface SchemaRegistryConfig {
  /** Base URL of a Confluent-compatible API, e.g. http://host:8081/apis/ccompat/v7 for Apicurio. */
  readonly url: string;
  readonly requestTimeoutMs: number;
  /** HTTP Basic credentials (Confluent Cloud: the API key and secret). */
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** A schema as the registry holds it: its text, its type (AVRO when absent) and what it imports. */
export interface RegisteredSchema {
  readonly schema: string;
  readonly schemaType?: string;
  readonly references?: readonly { name: string; subject: string; version: number }[];
}

export interface SchemaRegistry {
  /** The schema text for a global schema id; `undefined` when the registry does not know the id. */
  schemaById(id: number): Promise<string | undefined>;
  /** The whole schema for a global schema id (with its type and references), cached like the text. */
  schemaRecord(id: number): Promise<RegisteredSchema | undefined>;
  /** One version of a subject (how a reference names the schema it imports). */
  subjectVersion(subject: string, version: number): Promise<RegisteredSchema | undefined>;
  /** The latest version of a subject; `undefined` when the subject does not exist. */
  latest(subject: string): Promise<{ id: number; schema: string } | undefined>;
}

/** A small client for the read calls we need; schemas are immutable per id, so ids are cached. */
export function createSchemaRegistry(
  config: SchemaRegistryConfig,
  /** Where the settings are, for hints in errors. */
  key = 'avro.registry',
): SchemaRegistry {
  const base = config.url.replace(/\/+$/, '');
  const byId = new Map<number, Promise<RegisteredSchema | undefined>>();
  const headers: Record<string, string> = {
    accept: 'application/vnd.schemaregistry.v1+json, application/json',
  };
  if (config.username !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`;

  async function get<T>(path: string): Promise<T | undefined> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        headers,
        signal: AbortSignal.timeout(config.requestTimeoutMs),
      });
    } catch (err) {
      throw new PipelineError(
        'retryable',
        'REGISTRY_UNREACHABLE',
        `schema registry ${base}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    if (res.status === 404) return undefined;
    if (!res.ok) {
      const kind = res.status >= 500 || res.status === 429 ? 'retryable' : 'fatal';
      const hint =
        res.status === 401 || res.status === 403
          ? config.username === undefined
            ? ` (the registry wants credentials: set ${key}.username and password)`
            : ` (check ${key}.username and password)`
          : '';
      throw new PipelineError(
        kind,
        `REGISTRY_HTTP_${res.status}`,
        `schema registry ${base}${path}: HTTP ${res.status}${hint} ${(await res.text()).slice(0, 500)}`,
      );
    }
    return (await res.json()) as T;
  }

  function schemaRecord(id: number) {
    let p = byId.get(id);
    if (!p) {
      p = get<RegisteredSchema>(`/schemas/ids/${id}`);
      byId.set(id, p);
      p.catch(() => byId.delete(id)); // a failed lookup is retried next time
    }
    return p;
  }

  return {
    schemaRecord,
    async schemaById(id) {
      return (await schemaRecord(id))?.schema;
    },
    subjectVersion(subject, version) {
      return get<RegisteredSchema>(`/subjects/${encodeURIComponent(subject)}/versions/${version}`);
    },
    async latest(subject) {
      return get<{ id: number; schema: string }>(`/subjects/${encodeURIComponent(subject)}/versions/latest`);
    },
  };
}
