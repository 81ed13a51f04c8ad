import { PipelineError, errorMessage, type ErrorKind } from '../core/index.js';

/**
 * ClickHouse error codes by what to do about them. Codes not listed are treated as retryable:
 * waiting is safe (nothing is committed), while a wrong "poison" would dead-letter good data.
 */
const POISON = new Map<number, string>([
  [6, 'CANNOT_PARSE_TEXT'],
  [26, 'CANNOT_PARSE_QUOTED_STRING'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [38, 'CANNOT_PARSE_DATE'],
  [41, 'CANNOT_PARSE_DATETIME'],
  [53, 'TYPE_MISMATCH'],
  [69, 'ARGUMENT_OUT_OF_BOUND'],
  [70, 'CANNOT_CONVERT_TYPE'],
  [72, 'CANNOT_PARSE_NUMBER'],
  [117, 'INCORRECT_DATA'],
  [131, 'TOO_LARGE_STRING_SIZE'],
  [321, 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
]);

const FATAL = new Map<number, string>([
  [16, 'NO_SUCH_COLUMN_IN_TABLE'],
  [60, 'UNKNOWN_TABLE'],
  [62, 'SYNTAX_ERROR'],
  [81, 'UNKNOWN_DATABASE'],
  [115, 'UNKNOWN_SETTING'],
  [164, 'READONLY'],
  [192, 'UNKNOWN_USER'],
  [193, 'WRONG_PASSWORD'],
  [194, 'REQUIRED_PASSWORD'],
  [497, 'ACCESS_DENIED'],
  [516, 'AUTHENTICATION_FAILED'],
]);

/** The ClickHouse error code of an error, also from 18.16's message format that the client does not parse. */
export function clickhouseCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  if (typeof code === 'number') return code;
  const m = /\bCode: (\d+)/.exec(errorMessage(err));
  return m ? Number(m[1]) : undefined;
}

/** Decide once, at the storage boundary, whether an error is retryable, poison or fatal. */
export function classifyClickHouseError(err: unknown): PipelineError {
  if (err instanceof PipelineError) return err;
  const code = clickhouseCode(err);
  // 18.16 says "Code: 27, e.displayText() = DB::Exception: <text>, e.what() = DB::Exception".
  const text = errorMessage(err)
    .replace(/^Code: \d+, e\.displayText\(\) = DB::Exception: /, '')
    .replace(/\s*,?\s*e\.what\(\) = DB::Exception\s*$/, '')
    .trim();
  let kind: ErrorKind = 'retryable';
  let name = (err as { code?: unknown })?.code;
  if (code !== undefined) {
    if (POISON.has(code)) kind = 'poison';
    else if (FATAL.has(code)) kind = 'fatal';
    name = POISON.get(code) ?? FATAL.get(code) ?? `CLICKHOUSE_${code}`;
  }
  const label = typeof name === 'string' ? name : 'CLICKHOUSE_ERROR';
  const message = code === undefined ? `ClickHouse: ${text}` : `ClickHouse ${label} (code ${code}): ${text}`;
  return new PipelineError(kind, label, message, { cause: err });
}
