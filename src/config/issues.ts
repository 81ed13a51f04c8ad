import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

/** `kafka.brokers[0]` style key path. */
export function keyPath(path: Path): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** The object keys a schema allows at `path`, so an unknown-key error can list them. */
function allowedKeysAt(schema: z.ZodType, path: Path): string[] | undefined {
  let node: unknown = schema;
  for (const part of [...path, null]) {
    // unwrap optional/default/pipe/effects wrappers
    for (let i = 0; i < 8; i++) {
      const def = (node as { def?: { type?: string; innerType?: unknown; in?: unknown } }).def;
      if (def?.type === 'optional' || def?.type === 'default' || def?.type === 'nullable')
        node = def.innerType;
      else if (def?.type === 'pipe') node = def.in;
      else break;
    }
    if (part === null) break;
    const def = (node as { def?: { type?: string; element?: unknown; shape?: Record<string, unknown> } }).def;
    if (typeof part === 'number' && def?.type === 'array') node = def.element;
    else if (typeof part === 'string' && def?.type === 'object' && def.shape) node = def.shape[part];
    else return undefined;
  }
  const def = (node as { def?: { type?: string; shape?: Record<string, unknown> } }).def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

/** One line per problem, each naming its key path and, where known, what is allowed. */
export function describeIssues(schema: z.ZodType, issues: readonly Issue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = allowed ? ` (allowed: ${allowed.join(', ')})` : '';
        lines.push(`${keyPath([...issue.path, key])}: unknown key${hint}`);
      }
    } else if (issue.code === 'invalid_value') {
      const values = issue.values.map((v) => JSON.stringify(v)).join(', ');
      lines.push(`${keyPath(issue.path)}: must be one of ${values}`);
    } else if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) {
      lines.push(`${keyPath(issue.path)}: is required (expected ${issue.expected})`);
    } else if (issue.code === 'invalid_type') {
      lines.push(`${keyPath(issue.path)}: expected ${issue.expected}, ${issue.message.replace(/^.*, /, '')}`);
    } else {
      lines.push(`${keyPath(issue.path)}: ${issue.message}`);
    }
  }
  return lines;
}
