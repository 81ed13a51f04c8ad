import { describe, expect, it } from 'vitest';
import { fieldsRead, validateConfig } from './index.js';

const base = {
  kafka: { brokers: ['k:1'], groupId: 'g' },
  sources: [
    { topics: ['a'] },
    { topics: ['b'], output: { table: 'b_rows', columns: [{ name: 'b_id', type: 'String' }] } },
  ],
  output: {
    table: 'rows',
    columns: [
      { name: 'id', type: 'String' },
      { name: 'city', type: 'String', field: 'address.city' },
      { name: 'trace', type: 'String', field: '$header.trace' },
    ],
  },
  features: [
    {
      name: 'per_user',
      entity: 'user',
      eventTime: 'ts',
      window: { type: 'tumbling', size: '1m' },
      aggregations: [
        { name: 'n', fn: 'count' },
        { name: 'spent', fn: 'sum', field: 'order.amount' },
      ],
    },
    {
      name: 'per_key',
      entity: '$key',
      eventTime: '$timestamp',
      window: { type: 'tumbling', size: '1m' },
      aggregations: [{ name: 'kinds', fn: 'count_distinct', field: 'kind' }],
    },
  ],
};

describe('fieldsRead', () => {
  it("is a source's columns' fields and every feature set's, by their first name; the Kafka message's own are not fields", () => {
    const config = validateConfig(base);
    expect([...fieldsRead(config, 0)!].sort()).toEqual(['address', 'id', 'kind', 'order', 'ts', 'user']);
    // the second source has a table of its own: its columns, not output.columns
    expect([...fieldsRead(config, 1)!].sort()).toEqual(['b_id', 'kind', 'order', 'ts', 'user']);
  });

  it('cannot tell for a source with transform steps, or in hybrid mode', () => {
    const steps = validateConfig({
      ...base,
      sources: [{ topics: ['a'], transform: [{ rename: { uid: 'user' } }] }, base.sources[1]],
    });
    expect(fieldsRead(steps, 0)).toBeUndefined();
    expect(fieldsRead(steps, 1)).toBeDefined();
    const { output: _, features: __, ...rest } = base;
    const hybrid = validateConfig({
      ...rest,
      sources: [{ topics: ['a'] }],
      forward: { topic: 'out' },
      deadLetters: { topic: 'dlq' },
    });
    expect(fieldsRead(hybrid, 0)).toBeUndefined();
  });
});
