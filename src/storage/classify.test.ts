import { describe, expect, it } from 'vitest';
import { classifyClickHouseError, clickhouseCode } from './classify.js';

describe('classifyClickHouseError', () => {
  it('reads the code from an 18.16 message the client does not parse', () => {
    const err = new Error(
      'Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: zz (at row 1)\n, e.what() = DB::Exception\n',
    );
    expect(clickhouseCode(err)).toBe(27);
    const c = classifyClickHouseError(err);
    expect(c.kind).toBe('poison');
    expect(c.code).toBe('CANNOT_PARSE_INPUT_ASSERTION_FAILED');
    expect(c.message).toBe(
      'ClickHouse CANNOT_PARSE_INPUT_ASSERTION_FAILED (code 27): Cannot parse input: expected " before: zz (at row 1)',
    );
  });

  it('uses the code a current server reports', () => {
    const err = Object.assign(new Error('Unknown table expression identifier'), {
      code: '60',
      type: 'UNKNOWN_TABLE',
    });
    expect(classifyClickHouseError(err)).toMatchObject({ kind: 'fatal', code: 'UNKNOWN_TABLE' });
  });

  it('treats network errors and unknown codes as retryable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' });
    expect(classifyClickHouseError(refused)).toMatchObject({ kind: 'retryable', code: 'ECONNREFUSED' });
    expect(classifyClickHouseError(new Error('Code: 252, too many parts'))).toMatchObject({
      kind: 'retryable',
      code: 'CLICKHOUSE_252',
    });
  });
});
