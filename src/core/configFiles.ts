import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';

/**
 * Reads files named in the config (paths relative to `baseDir`, the pipeline file's folder); every
 * one that cannot be read is reported at once, each naming its key and path.
 */
export function readConfigFiles(
  baseDir: string,
  files: readonly (readonly [key: string, path: string | undefined])[],
): (Buffer | undefined)[] {
  const problems: string[] = [];
  const out = files.map(([key, path]) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(resolve(baseDir, path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        `${key}: cannot read ${path}: ${code === 'ENOENT' ? 'file not found' : String(code ?? err)}`,
      );
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}
