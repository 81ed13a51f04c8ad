import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { errorMessage } from '../core/index.js';

export type LookupTable = ReadonlyMap<string, Readonly<Record<string, unknown>>>;

/**
 * Loads a static lookup file: CSV with a header row (values stay strings), or JSON (an array of
 * objects, or an object of objects keyed by the key). Throws with a message for a config error.
 */
export async function loadLookup(baseDir: string, file: string, key: string): Promise<LookupTable> {
  let text: string;
  try {
    text = await readFile(resolve(baseDir, file), 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : errorMessage(err)}`,
    );
  }
  let rows: Record<string, unknown>[];
  try {
    if (extname(file).toLowerCase() === '.csv') {
      rows = parseCsv(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<
        string,
        unknown
      >[];
    } else {
      const doc = JSON.parse(text) as unknown;
      if (Array.isArray(doc)) rows = doc as Record<string, unknown>[];
      else if (doc && typeof doc === 'object') {
        rows = Object.entries(doc as Record<string, Record<string, unknown>>).map(([k, v]) => ({
          [key]: k,
          ...v,
        }));
      } else throw new Error('expected an array of objects or an object of objects');
    }
  } catch (err) {
    throw new Error(`cannot parse ${file}: ${errorMessage(err)}`);
  }
  const table = new Map<string, Record<string, unknown>>();
  rows.forEach((row, i) => {
    const k = row?.[key];
    if (k === undefined || k === null || k === '') throw new Error(`${file}: row ${i + 1} has no '${key}'`);
    if (table.has(String(k)))
      throw new Error(`${file}: key '${String(k)}' appears twice (rows must be unique by '${key}')`);
    table.set(String(k), row);
  });
  return table;
}
