import { describe, expect, it } from 'vitest';
import { createTelemetry, histogramBuckets, histogramQuantile } from './telemetry.js';

describe('histogramQuantile', () => {
  it('interpolates linearly inside the bucket the rank falls in, as histogram_quantile does', () => {
    const buckets = [
      { le: 1, count: 10 },
      { le: 2, count: 30 },
      { le: 4, count: 40 },
      { le: Infinity, count: 40 },
    ];
    expect(histogramQuantile(0.25, buckets)).toBe(1); // rank 10: the top of the first bucket
    expect(histogramQuantile(0.5, buckets)).toBe(1.5); // rank 20: halfway through (1, 2]
    expect(histogramQuantile(0.875, buckets)).toBe(3); // rank 35: halfway through (2, 4]
    expect(histogramQuantile(0.1, buckets)).toBe(0.4); // the first bucket starts at 0
  });

  it('gives the highest finite bound past it, and NaN for an empty histogram', () => {
    expect(
      histogramQuantile(0.99, [
        { le: 1, count: 1 },
        { le: Infinity, count: 100 },
      ]),
    ).toBe(1);
    expect(
      histogramQuantile(0.5, [
        { le: 1, count: 0 },
        { le: Infinity, count: 0 },
      ]),
    ).toBeNaN();
  });

  it("reads the pipeline's event-to-stored histogram within a bucket's width", async () => {
    const t = createTelemetry();
    // 1000 observations spread evenly over (0, 2 s]: the p50 is 1 s, the p99 1.98 s.
    for (let i = 1; i <= 1000; i++) t.eventToStoredSeconds.observe((i / 1000) * 2);
    const buckets = await histogramBuckets(t.eventToStoredSeconds);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(1, 2);
    expect(Math.abs(histogramQuantile(0.99, buckets) - 1.98)).toBeLessThan(0.25);
  });
});
