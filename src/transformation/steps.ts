import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { TransformStep } from '../config/index.js';
import { errorMessage, type SourceRecord } from '../core/index.js';
import { compile } from './expressions.js';
import { deletePath, describeValue, getPath, setPath } from './fields.js';
import { loadLookup } from './lookup.js';

/** What a step does to one record: nothing (undefined), reject it with a reason, or filter it out. */
export type StepOutcome = undefined | { reject: string } | 'filtered';

/** A compiled step; it may change `fields` in place (they belong to this record alone). */
export type Step = (fields: Record<string, unknown>, source: SourceRecord) => StepOutcome;

/** A custom transform: return the record (changed or new), null to filter it out, or { reject }. */
export type CustomTransform = (
  record: Record<string, unknown>,
  context: { topic: string; partition: number; offset: string; key: string | null; timestamp: number },
) => Record<string, unknown> | null | { reject: string };

const TYPE_CHECKS: Record<string, (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  integer: (v) => typeof v === 'number' && Number.isInteger(v),
  boolean: (v) => typeof v === 'boolean',
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  array: (v) => Array.isArray(v),
};

function castValue(to: string, v: unknown): { value: unknown } | undefined {
  switch (to) {
    case 'string':
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
        ? { value: String(v) }
        : undefined;
    case 'number':
    case 'integer': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n) || (to === 'integer' && !Number.isInteger(n))) return undefined;
      return { value: n };
    }
    case 'boolean':
      if (v === true || v === 'true' || v === 1 || v === '1') return { value: true };
      if (v === false || v === 'false' || v === 0 || v === '0') return { value: false };
      return undefined;
  }
  return undefined;
}

/** Config-time failure of a step, with the key path the caller prefixes. */
export class StepError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

function compileOrFail(key: string, expression: string) {
  try {
    return compile(expression);
  } catch (err) {
    throw new StepError(key, `bad expression ${JSON.stringify(expression)}: ${errorMessage(err)}`);
  }
}

/** Compile one declared step; reads lookup files and custom modules now (I/O at start-up only). */
export async function compileStep(step: TransformStep, baseDir: string): Promise<Step> {
  if (step.require) {
    const entries = Object.entries(step.require);
    return (fields) => {
      for (const [field, type] of entries) {
        const v = getPath(fields, field);
        if (v === undefined || v === null)
          return { reject: `field '${field}' is required (${type}) but ${describeValue(v)}` };
        if (!TYPE_CHECKS[type]!(v))
          return { reject: `field '${field}' must be ${type}, got ${describeValue(v)}` };
      }
      return undefined;
    };
  }
  if (step.rename) {
    const entries = Object.entries(step.rename);
    return (fields) => {
      for (const [from, to] of entries) {
        const v = getPath(fields, from);
        if (v === undefined) continue;
        deletePath(fields, from);
        setPath(fields, to, v);
      }
      return undefined;
    };
  }
  if (step.cast) {
    const entries = Object.entries(step.cast);
    return (fields) => {
      for (const [field, to] of entries) {
        const v = getPath(fields, field);
        if (v === undefined || v === null) continue;
        const c = castValue(to, v);
        if (!c) return { reject: `field '${field}': cannot cast ${describeValue(v)} to ${to}` };
        setPath(fields, field, c.value);
      }
      return undefined;
    };
  }
  if (step.default) {
    const entries = Object.entries(step.default);
    return (fields) => {
      for (const [field, value] of entries) {
        const v = getPath(fields, field);
        // A list is copied: records must not share one a later step could change.
        if (v === undefined || v === null) setPath(fields, field, Array.isArray(value) ? [...value] : value);
      }
      return undefined;
    };
  }
  if (step.derive) {
    const derived = Object.entries(step.derive).map(
      ([field, expr]) => [field, compileOrFail(`derive.${field}`, expr)] as const,
    );
    return (fields) => {
      for (const [field, fn] of derived) {
        let v: unknown;
        try {
          v = fn(fields);
        } catch (err) {
          return { reject: `derive '${field}': ${errorMessage(err)}` };
        }
        if (typeof v === 'number' && !Number.isFinite(v))
          return { reject: `derive '${field}': the result is ${v}` };
        setPath(fields, field, v);
      }
      return undefined;
    };
  }
  if (step.filter !== undefined) {
    const fn = compileOrFail('filter', step.filter);
    return (fields) => {
      try {
        return fn(fields) ? undefined : 'filtered';
      } catch (err) {
        return { reject: `filter: ${errorMessage(err)}` };
      }
    };
  }
  if (step.enrich) {
    const e = step.enrich;
    let table;
    try {
      table = await loadLookup(baseDir, e.file, e.key);
    } catch (err) {
      throw new StepError('enrich.file', errorMessage(err));
    }
    const on = e.on ?? e.key;
    const copy =
      e.fields ?? [...new Set([...table.values()].flatMap((r) => Object.keys(r)))].filter((k) => k !== e.key);
    return (fields) => {
      const k = getPath(fields, on);
      const row = k === undefined || k === null ? undefined : table.get(String(k));
      if (!row) {
        if (e.missing === 'reject')
          return { reject: `enrich: no row in ${e.file} for ${on} ${describeValue(k)}` };
        if (e.missing === 'null') for (const f of copy) setPath(fields, f, null);
        return undefined;
      }
      for (const f of copy) setPath(fields, f, row[f] ?? null);
      return undefined;
    };
  }
  return compileCustom(step.custom!, baseDir);
}

async function compileCustom(path: string, baseDir: string): Promise<Step> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(baseDir, path)).href)) as { default?: unknown };
  } catch (err) {
    throw new StepError('custom', `cannot load ${path}: ${errorMessage(err).split('\n')[0]}`);
  }
  if (typeof mod.default !== 'function')
    throw new StepError(
      'custom',
      `${path} must export a default function (record, context) => record | null | { reject }`,
    );
  const fn = mod.default as CustomTransform;
  return (fields, source) => {
    let out: ReturnType<CustomTransform>;
    try {
      out = fn(fields, {
        topic: source.topic,
        partition: source.partition,
        offset: source.offset,
        key: source.key === null ? null : source.key.toString('utf8'),
        timestamp: source.timestamp,
      });
    } catch (err) {
      return { reject: `custom ${path} threw: ${errorMessage(err)}` };
    }
    if (out === null) return 'filtered';
    if (out instanceof Promise)
      return { reject: `custom ${path} returned a Promise: transforms must be synchronous` };
    if (typeof out !== 'object')
      return {
        reject: `custom ${path} returned ${describeValue(out)}, expected an object, null or { reject }`,
      };
    if ('reject' in out && typeof out.reject === 'string' && Object.keys(out).length === 1)
      return { reject: out.reject };
    if (out !== fields) {
      for (const k of Object.keys(fields)) delete fields[k];
      Object.assign(fields, out);
    }
    return undefined;
  };
}
