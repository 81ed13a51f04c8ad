import { compileExpression } from 'filtrex';
import { errorMessage } from '../core/index.js';
import { getPath } from './fields.js';

/** Functions expressions may call, besides filtrex's own (abs, ceil, floor, log, max, min, round, sqrt, ...). */
const EXTRA_FUNCTIONS: Record<string, (...args: never[]) => unknown> = {
  lower: (s: unknown) => String(s).toLowerCase(),
  upper: (s: unknown) => String(s).toUpperCase(),
  trim: (s: unknown) => String(s).trim(),
  length: (s: unknown) => (Array.isArray(s) ? s.length : String(s).length),
  concat: (...parts: unknown[]) => parts.map((p) => String(p)).join(''),
  substr: (s: unknown, start: number, len?: number) => String(s).substr(start, len),
  startsWith: (s: unknown, prefix: unknown) => String(s).startsWith(String(prefix)),
  endsWith: (s: unknown, suffix: unknown) => String(s).endsWith(String(suffix)),
  contains: (s: unknown, part: unknown) => String(s).includes(String(part)),
  number: (v: unknown) => Number(v),
  string: (v: unknown) => String(v),
  coalesce: (...vs: unknown[]) => vs.find((v) => v !== undefined && v !== null) ?? null,
  /** milliseconds since the epoch of an ISO-8601 date-time (not the clock: transforms are pure) */
  epochMillis: (s: unknown) => Date.parse(String(s)),
};

const FILTREX_FUNCTIONS = [
  'abs',
  'ceil',
  'floor',
  'log',
  'log2',
  'log10',
  'max',
  'min',
  'round',
  'sqrt',
  'exists',
  'empty',
];
const KEYWORDS = new Set(['if', 'then', 'else', 'and', 'or', 'not', 'in', 'of', 'mod']);
export const EXPRESSION_FUNCTIONS = [...FILTREX_FUNCTIONS, ...Object.keys(EXTRA_FUNCTIONS)].sort();

export type Expression = (fields: Record<string, unknown>) => unknown;

/**
 * Compile an expression once; the result is a plain synchronous function. Throws with a message
 * fit for a config error (parse error, unknown function). At run time a missing field reads as null:
 * comparisons and exists() work on it, while arithmetic on it is an error (filtrex checks operand
 * types), which is thrown naming the missing field so the caller rejects the record with that reason.
 */
export function compile(expression: string): Expression {
  const withoutStrings = expression.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  for (const m of withoutStrings.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) {
    const name = m[1]!;
    if (!KEYWORDS.has(name) && !EXPRESSION_FUNCTIONS.includes(name)) {
      throw new Error(`unknown function ${name}() (allowed: ${EXPRESSION_FUNCTIONS.join(', ')})`);
    }
  }
  let fn: (obj: unknown) => unknown;
  let missing: string[] = [];
  try {
    fn = compileExpression(expression, {
      extraFunctions: EXTRA_FUNCTIONS,
      customProp: (name: string, _get: unknown, obj: unknown) => {
        const v = getPath(obj as Record<string, unknown>, name);
        if (v !== undefined) return v;
        missing.push(name);
        return null;
      },
    });
  } catch (err) {
    throw new Error(errorMessage(err).split('\n').join(' '));
  }
  return (fields) => {
    missing = [];
    let v: unknown;
    try {
      v = fn(fields);
    } catch (err) {
      v = err;
    }
    if (v instanceof Error) {
      // filtrex returns most run-time errors as values; name the missing field when that is the cause
      if (missing.length === 0) throw v;
      throw new Error(
        `${missing.map((m) => `field '${m}'`).join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing`,
      );
    }
    return v;
  };
}
