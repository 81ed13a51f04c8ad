/** A reader for a dotted field path (`address.city`), split once rather than per record. */
export function pathReader(path: string): (fields: Record<string, unknown>) => unknown {
  if (!path.includes('.')) return (fields) => fields[path];
  const parts = path.split('.');
  return (fields) => {
    let v: unknown = fields;
    for (const p of parts) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[p];
    }
    return v;
  };
}
