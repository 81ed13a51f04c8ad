import { describe, expect, it } from 'vitest';
import { createLaneCommits } from './laneCommits.js';

describe('laneCommits', () => {
  it('commits only the end of the stored prefix, whatever order batches are stored in', () => {
    const commits: bigint[] = [];
    const lane = createLaneCommits((p) => commits.push(p.offset));
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

  it('commits the earlier offset a batch asks for (records still in open windows)', () => {
    const points: unknown[] = [];
    const lane = createLaneCommits((p) => points.push(p));
    lane.add(10n).done({ offset: 4n, metadata: '{"v":1}' });
    expect(points).toEqual([{ offset: 4n, metadata: '{"v":1}' }]);
  });
});
