import { describe, expect, it } from 'vitest';
import { committedReads } from './committedReads.js';

type Answer = {
  topic: string;
  partitions: { partition: number; offset: string; metadata: string | null }[];
}[];

/** A group's commits as admin.fetchOffsets answers them, counting the requests per topic. */
function group(commits: Record<string, (string | null)[]>) {
  const requests: string[] = [];
  let failNext = false;
  const fetchOffsets = async (topic: string): Promise<Answer> => {
    requests.push(topic);
    await new Promise((r) => setTimeout(r, 5));
    if (failNext) {
      failNext = false;
      throw new Error('The coordinator is loading');
    }
    const partitions = (commits[topic] ?? []).map((metadata, partition) => ({
      partition,
      offset: metadata === null ? '-1' : '10',
      metadata,
    }));
    return [{ topic, partitions }];
  };
  return { fetchOffsets, requests, failOnce: () => (failNext = true) };
}

describe('committedReads (a lane’s commit metadata at the start of a generation)', () => {
  it('reads a topic once for all its lanes, at the same time or later, each getting its own partition', async () => {
    const g = group({ a: ['m0', null, 'm2', 'm3', 'm4', 'm5'], b: ['b0', 'b1'] });
    const read = committedReads(g.fetchOffsets);
    const first = await Promise.all([0, 1, 2, 3].map((p) => read('a', p)));
    expect(first).toEqual(['m0', null, 'm2', 'm3']);
    expect(await read('a', 5)).toBe('m5'); // a lane whose first batch came later
    expect(await read('a', 9)).toBeNull(); // a partition the answer does not list
    expect(await Promise.all([read('b', 1), read('b', 0)])).toEqual(['b1', 'b0']);
    expect(g.requests).toEqual(['a', 'b']);
  });

  it('does not keep a failed read: the next lane to ask reads again', async () => {
    const g = group({ a: ['m0', 'm1'] });
    const read = committedReads(g.fetchOffsets);
    g.failOnce();
    const both = await Promise.allSettled([read('a', 0), read('a', 1)]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await read('a', 1)).toBe('m1');
    expect(g.requests).toEqual(['a', 'a']);
  });

  it('reads again for a new generation: each reader serves one', async () => {
    const commits = { a: ['before'] };
    const g = group(commits);
    expect(await committedReads(g.fetchOffsets)('a', 0)).toBe('before');
    commits.a = ['after'];
    expect(await committedReads(g.fetchOffsets)('a', 0)).toBe('after');
    expect(g.requests).toEqual(['a', 'a']);
  });
});
