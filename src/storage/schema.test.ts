import { describe, expect, it } from 'vitest';
import { createTableSql, outputTableSpec } from './schema.js';

describe('createTableSql', () => {
  it('keys the output table by source position and stores Bool as UInt8', () => {
    const sql = createTableSql(
      outputTableSpec('db', 'events', [
        { name: 'id', type: 'String' },
        { name: 'ok', type: 'Nullable(Bool)' },
      ]),
    );
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS db.events (');
    expect(sql).toContain('  _offset UInt64,');
    expect(sql).toContain('  ok Nullable(UInt8),');
    expect(sql).toMatch(/ENGINE = ReplacingMergeTree ORDER BY \(_topic, _partition, _offset\)$/);
  });
});
