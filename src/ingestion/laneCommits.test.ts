import { describe, expect, it } from 'vitest';
import { createLaneCommits } from './laneCommits.js';

describe('laneCommits', () => {
  it('commits only the end of the stored prefix, whatever order batches are stored in', () => {
    const commits: bigint[] = [];
    const lane = createLaneCommits((o) => commits.push(o));
    const a = lane.add(10n);
    const b = lane.add(20n);
    const c = lane.add(30n);
    b.done();
    expect(commits).toEqual([]); // 0..9 not stored yet: nothing may be committed
    a.done();
    expect(commits).toEqual([20n]);
    expect(lane.pending()).toBe(1);
    c.done();
    expect(commits).toEqual([20n, 30n]);
    expect(lane.pending()).toBe(0);
  });
});
