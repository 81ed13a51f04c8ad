import bf from 'bloom-filters';
import type { AggregationConfig } from '../../config/index.js';

/** One aggregation's running state for one window. Values arrive in offset order (a lane's order). */
export interface Aggregator {
  add(value: unknown): void;
  /** The output column values (the named one, and partials the merge view needs). */
  result(windowMs: number, count: number): Record<string, unknown>;
}

/** Exact up to this many distinct values, then a HyperLogLog sketch (1024 registers, ~3.25% error). */
const EXACT_DISTINCT_LIMIT = 128;
const HLL_REGISTERS = 1024;
export const APPROX_DISTINCT_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

function numeric(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function createAggregator(a: AggregationConfig): Aggregator {
  const name = a.name;
  switch (a.fn) {
    case 'count':
    case 'rate': {
      return {
        add() {},
        result: (windowMs, count) =>
          a.fn === 'count' ? { [name]: count } : { [name]: count / (windowMs / 1000) },
      };
    }
    case 'sum':
    case 'avg':
    case 'variance':
    case 'stddev': {
      let n = 0;
      let sum = 0;
      let sumsq = 0;
      return {
        add(v) {
          const x = numeric(v);
          if (x === undefined) return;
          n++;
          sum += x;
          sumsq += x * x;
        },
        result() {
          const partials = { [`_n_${name}`]: n, [`_sum_${name}`]: sum, [`_sumsq_${name}`]: sumsq };
          if (a.fn === 'sum') return { [name]: sum };
          const mean = n === 0 ? 0 : sum / n;
          // population variance, from the partials so the merge view computes the same formula
          const variance = n === 0 ? 0 : Math.max(0, sumsq / n - mean * mean);
          const value = a.fn === 'avg' ? mean : a.fn === 'variance' ? variance : Math.sqrt(variance);
          return { [name]: value, ...partials };
        },
      };
    }
    case 'min':
    case 'max': {
      let best: number | undefined;
      return {
        add(v) {
          const x = numeric(v);
          if (x === undefined) return;
          if (best === undefined || (a.fn === 'min' ? x < best : x > best)) best = x;
        },
        result: () => ({ [name]: best ?? null }),
      };
    }
    case 'first':
    case 'last': {
      let value: unknown;
      let seen = false;
      return {
        add(v) {
          if (v === undefined || v === null) return;
          if (a.fn === 'last' || !seen) value = v;
          seen = true;
        },
        result: () => ({ [name]: seen ? (typeof value === 'string' ? value : JSON.stringify(value)) : null }),
      };
    }
    case 'count_distinct': {
      const values = new Set<string>();
      return {
        add(v) {
          if (v !== undefined && v !== null) values.add(typeof v === 'string' ? v : JSON.stringify(v));
        },
        result: () => ({ [name]: values.size }),
      };
    }
    case 'approx_count_distinct': {
      let exact: Set<string> | undefined = new Set<string>();
      let sketch: InstanceType<typeof bf.HyperLogLog> | undefined;
      return {
        add(v) {
          if (v === undefined || v === null) return;
          const key = typeof v === 'string' ? v : JSON.stringify(v);
          if (exact) {
            exact.add(key);
            if (exact.size <= EXACT_DISTINCT_LIMIT) return;
            // Seeded hashing: the same values give the same estimate on every run and replay.
            sketch = new bf.HyperLogLog(HLL_REGISTERS);
            for (const k of exact) sketch.update(k);
            exact = undefined;
          } else sketch!.update(key);
        },
        result: () => ({ [name]: exact ? exact.size : Math.round(sketch!.count()) }),
      };
    }
  }
}
