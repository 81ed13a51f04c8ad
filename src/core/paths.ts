/** A reader for a dotted field path (`address.city`), split once rather than per record. */
export function pathReader(path: string): (fields: Record<string, unknown>) => unknown {
  // A function of its own for each field: its property load stays monomorphic (records of a source
  // share one shape), where one closure for every field would see them all and go megamorphic.
  if (!path.includes('.'))
    return new Function('fields', `return fields[${JSON.stringify(path)}];`) as (
      fields: Record<string, unknown>,
    ) => unknown;
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
