import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * A third-party tool some tests check our output with, made or installed once by
 * scripts/test-tools.sh: the Python of its virtual environment, or the prometheus binary.
 */
export function testTool(name: 'python' | 'prometheus'): string {
  const script = resolve(import.meta.dirname, '../../scripts/test-tools.sh');
  return execFileSync('bash', [script, name], { encoding: 'utf8' }).trim();
}
