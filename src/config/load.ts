import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, errorMessage } from '../core/index.js';
import { applyEnvOverrides } from './env.js';
import { interpolateEnv } from './interpolate.js';
import { describeIssues } from './issues.js';
import { pipelineSchema, type PipelineConfig } from './schema.js';

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Parse a pipeline file's text (YAML, of which JSON is a subset). */
export function parseDocument(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = extname(source) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError([`cannot parse: ${errorMessage(err)}`], source);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(['(top level): must be a mapping of keys (kafka, sources, output, ...)'], source);
  }
  return doc as Record<string, unknown>;
}

/**
 * Validate a parsed document into a frozen, typed config: `${VAR}` references in its strings are
 * filled from `env` first, then the environment overrides apply.
 */
export function validateConfig(
  doc: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>> = {},
  source?: string,
): PipelineConfig {
  let interpolated: Record<string, unknown>;
  try {
    interpolated = interpolateEnv(doc, env);
  } catch (err) {
    throw err instanceof ConfigError ? new ConfigError(err.issues, source) : err;
  }
  const withEnv = applyEnvOverrides(interpolated, env);
  const result = pipelineSchema.safeParse(withEnv);
  if (!result.success) {
    throw new ConfigError(describeIssues(pipelineSchema, result.error.issues), source);
  }
  return deepFreeze({ ...result.data, baseDir: source ? dirname(resolve(source)) : process.cwd() });
}

/** Read, parse and validate a pipeline file; environment overrides come from `env` (process.env by default). */
export async function loadConfig(
  path: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<PipelineConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : errorMessage(err);
    throw new ConfigError([`--config: cannot read ${path}: ${why}`]);
  }
  return validateConfig(parseDocument(text, path), env, path);
}
