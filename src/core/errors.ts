/**
 * One error taxonomy, decided once at a module boundary:
 * - retryable: try again later (network, timeouts, overload); nothing is committed meanwhile.
 * - poison: this input will never succeed; dead-letter it and move on.
 * - fatal: the process cannot do its job (bad config, auth, missing table); stop without committing.
 */
export type ErrorKind = 'retryable' | 'poison' | 'fatal';

export class PipelineError extends Error {
  readonly kind: ErrorKind;
  /** A stable machine-readable code, e.g. a ClickHouse error name or `CONFIG_INVALID`. */
  readonly code: string;

  constructor(kind: ErrorKind, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PipelineError';
    this.kind = kind;
    this.code = code;
  }
}

/** A configuration mistake; the message names the key path and, where it helps, the allowed values. */
export class ConfigError extends PipelineError {
  readonly issues: readonly string[];

  constructor(issues: readonly string[], source?: string) {
    const where = source ? ` in ${source}` : '';
    super('fatal', 'CONFIG_INVALID', `invalid configuration${where}:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isKind(err: unknown, kind: ErrorKind): boolean {
  return err instanceof PipelineError && err.kind === kind;
}
