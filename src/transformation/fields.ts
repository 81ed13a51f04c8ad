/** Dotted field paths (`address.city`) over a record's fields. */
export function getPath(fields: Record<string, unknown>, path: string): unknown {
  if (!path.includes('.')) return fields[path];
  let v: unknown = fields;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

export function setPath(fields: Record<string, unknown>, path: string, value: unknown): void {
  if (!path.includes('.')) {
    fields[path] = value;
    return;
  }
  const parts = path.split('.');
  let node = fields;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

export function deletePath(fields: Record<string, unknown>, path: string): void {
  const parts = path.split('.');
  let node: unknown = fields;
  for (const part of parts.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = (node as Record<string, unknown>)[part];
  }
  if (node !== null && typeof node === 'object')
    delete (node as Record<string, unknown>)[parts[parts.length - 1]!];
}

export { describeValue } from '../core/index.js';
