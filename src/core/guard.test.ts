import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { counterValue, createAck, createTelemetry, guarded, type Batch } from './index.js';

function batch(partition: number, values: number[]): Batch<number> & { done: Promise<void> } {
  const { ack, done } = createAck();
  return {
    lane: { topic: 't', partition },
    ack,
    firstOffset: '0',
    lastOffset: String(values.length - 1),
    records: values,
    rejected: [],
    filtered: 0,
    done,
  };
}

describe('guarded', () => {
  it('fails only the batch whose stage threw, and the stream goes on', async () => {
    const telemetry = createTelemetry();
    const input = new Subject<Batch<number>>();
    const out: number[][] = [];
    const stage = map((b: Batch<number>) => {
      if (b.lane.partition === 1) throw new Error('boom');
      return { ...b, records: b.records.map((x) => x * 2) };
    });
    input.pipe(guarded(stage, 'transformation', telemetry)).subscribe((b) => out.push([...b.records]));
    const good = batch(0, [1, 2]);
    const bad = batch(1, [3]);
    const after = batch(2, [4]);
    input.next(good);
    input.next(bad);
    input.next(after);
    await expect(bad.done).rejects.toThrow('boom');
    expect(out).toEqual([[2, 4], [8]]);
    expect(await counterValue(telemetry.recordsIn, 'transformation')).toBe(3);
  });
});
