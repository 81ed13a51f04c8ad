import { from, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../config/index.js';
import { createAck, type Batch, type DecodedRecord } from '../core/index.js';
import { extractFeatures } from './extract.js';

function config(onLimit: 'fail' | 'dead-letter') {
  return validateConfig({
    kafka: { brokers: ['k:1'], groupId: 'g' },
    sources: [{ topics: ['t'] }],
    output: { table: 'x', columns: [{ name: 'user', type: 'String' }] },
    features: [
      {
        name: 'f',
        entity: 'user',
        eventTime: '$timestamp',
        window: { type: 'tumbling', size: '1h' },
        aggregations: [{ name: 'n', fn: 'count' }],
        maxOpenWindows: 2,
        onLimit,
      },
    ],
  });
}

function batch(users: string[]): Batch<DecodedRecord> {
  return {
    lane: { topic: 't', partition: 0 },
    ack: createAck().ack,
    firstOffset: '0',
    lastOffset: String(users.length - 1),
    records: users.map((user, i) => ({
      source: {
        topic: 't',
        partition: 0,
        offset: String(i),
        key: null,
        value: null,
        headers: {},
        timestamp: 1000 + i,
      },
      fields: { user },
    })),
    rejected: [],
    filtered: 0,
  };
}

describe('extractFeatures state ceiling', () => {
  it('dead-letters records that would open a window past the ceiling, with the reason', async () => {
    const c = config('dead-letter');
    const open = new Map<string, number>();
    const out = await lastValueFrom(
      from([batch(['a', 'b', 'c', 'a'])]).pipe(extractFeatures(c.output.columns, c.features, open)),
    );
    expect(out.records).toHaveLength(4); // the raw rows are still stored
    expect(out.rejected.map((r) => [r.source.offset, r.reason])).toEqual([
      ['2', 'feature set f: 2 open windows reached (maxOpenWindows)'],
    ]);
    expect(open.get('f')).toBe(2);
  });

  it('fails with an error naming the feature set and what to change', async () => {
    const c = config('fail');
    await expect(
      lastValueFrom(from([batch(['a', 'b', 'c'])]).pipe(extractFeatures(c.output.columns, c.features))),
    ).rejects.toMatchObject({
      kind: 'fatal',
      message:
        'feature set f: 2 open windows reached (maxOpenWindows); raise it, shorten the window, or set onLimit: dead-letter',
    });
  });
});
