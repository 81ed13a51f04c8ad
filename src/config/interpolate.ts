import { ConfigError } from '../core/index.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (and `${NAME:-default}`) in every string value of a parsed pipeline document
 * with the environment variable, so secrets can stay out of the file (Kubernetes secrets as
 * variables). `$${` is a literal `${`. Values stay strings. An unset variable without a default is
 * an error naming the key and the variable.
 */
export function interpolateEnv(
  doc: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, unknown> {
  const problems: string[] = [];
  const walk = (value: unknown, path: string): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${')) return value;
      return value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
        if (name === undefined) return '${'; // $${
        const v = env[name];
        if (v !== undefined) return v;
        if (fallback !== undefined) return fallback;
        problems.push(
          `${path || '(top level)'}: environment variable ${name} is not set (write \${${name}:-default} for a default, or $\${ for a literal \${)`,
        );
        return match;
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}[${i}]`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v, path ? `${path}.${k}` : k);
      return out;
    }
    return value;
  };
  const result = walk(doc, '') as Record<string, unknown>;
  if (problems.length > 0) throw new ConfigError(problems);
  return result;
}
