import bf from 'bloom-filters';
import type { AggregationConfig } from '../../config/index.js';

/**
 * One aggregation's running state for one window. Values arrive in offset order (a lane's order).
 * `merge` folds in another window's state of the same aggregation (session windows merge when a
 * record bridges them); the result is the same as if every value had gone to one aggregator.
 */
export interface Aggregator {
  add(value: unknown, offset: bigint): void;
  merge(other: Aggregator): void;
  /** Write the output column values (the named one, and partials the merge view needs). */
  write(into: Record<string, unknown>, windowMs: number, count: number): void;
}

/** Exact up to this many distinct values, then a HyperLogLog sketch (1024 registers, ~3.25% error). */
const EXACT_DISTINCT_LIMIT = 128;
const HLL_REGISTERS = 1024;
export const APPROX_DISTINCT_ERROR = 1.04 / Math.sqrt(HLL_REGISTERS);

function numeric(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

const asKey = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** count and rate keep no state of their own (the window counts its records): one per feature set. */
class CountOrRate implements Aggregator {
  constructor(private readonly a: AggregationConfig) {}
  add() {}
  merge() {}
  write(into: Record<string, unknown>, windowMs: number, count: number) {
    into[this.a.name] = this.a.fn === 'count' ? count : count / (windowMs / 1000);
  }
}

/** sum, avg, variance, stddev: from n, sum and sum of squares, which merge by addition. */
class Moments implements Aggregator {
  n = 0;
  sum = 0;
  sumsq = 0;
  constructor(private readonly a: AggregationConfig) {}
  add(v: unknown) {
    const x = numeric(v);
    if (x === undefined) return;
    this.n++;
    this.sum += x;
    this.sumsq += x * x;
  }
  merge(other: Aggregator) {
    const o = other as Moments;
    this.n += o.n;
    this.sum += o.sum;
    this.sumsq += o.sumsq;
  }
  write(into: Record<string, unknown>) {
    const { name, fn } = this.a;
    if (fn === 'sum') {
      into[name] = this.sum;
      return;
    }
    const { n, sum, sumsq } = this;
    const mean = n === 0 ? 0 : sum / n;
    // population variance, from the partials so the merge view computes the same formula
    const variance = n === 0 ? 0 : Math.max(0, sumsq / n - mean * mean);
    into[name] = fn === 'avg' ? mean : fn === 'variance' ? variance : Math.sqrt(variance);
    into[`_n_${name}`] = n;
    into[`_sum_${name}`] = sum;
    into[`_sumsq_${name}`] = sumsq;
  }
}

class Extreme implements Aggregator {
  best: number | undefined;
  constructor(private readonly a: AggregationConfig) {}
  add(v: unknown) {
    const x = numeric(v);
    if (x === undefined) return;
    if (this.best === undefined || (this.a.fn === 'min' ? x < this.best : x > this.best)) this.best = x;
  }
  merge(other: Aggregator) {
    const b = (other as Extreme).best;
    if (b !== undefined) this.add(b);
  }
  write(into: Record<string, unknown>) {
    into[this.a.name] = this.best ?? null;
  }
}

/** first/last non-null value in offset order; the offset decides which side wins a merge. */
class Positional implements Aggregator {
  value: unknown;
  offset = -1n;
  constructor(private readonly a: AggregationConfig) {}
  add(v: unknown, offset: bigint) {
    if (v === undefined || v === null) return;
    if (this.offset >= 0n && this.a.fn === 'first') return;
    this.value = v;
    this.offset = offset;
  }
  merge(other: Aggregator) {
    const o = other as Positional;
    if (o.offset < 0n) return;
    const takeOther =
      this.offset < 0n || (this.a.fn === 'first' ? o.offset < this.offset : o.offset > this.offset);
    if (takeOther) {
      this.value = o.value;
      this.offset = o.offset;
    }
  }
  write(into: Record<string, unknown>) {
    into[this.a.name] = this.offset < 0n ? null : asKey(this.value);
  }
}

/** Exact distinct count: a small array while there are few values (most windows), then a Set. */
class Distinct implements Aggregator {
  few: string[] | undefined = [];
  many: Set<string> | undefined;
  constructor(private readonly a: AggregationConfig) {}
  add(v: unknown) {
    if (v !== undefined && v !== null) this.addKey(asKey(v));
  }
  private addKey(key: string) {
    if (this.many) this.many.add(key);
    else if (!this.few!.includes(key)) {
      this.few!.push(key);
      if (this.few!.length > 8) {
        this.many = new Set(this.few);
        this.few = undefined;
      }
    }
  }
  merge(other: Aggregator) {
    const o = other as Distinct;
    for (const k of o.many ?? o.few!) this.addKey(k);
  }
  write(into: Record<string, unknown>) {
    into[this.a.name] = this.many ? this.many.size : this.few!.length;
  }
}

type Hll = InstanceType<typeof bf.HyperLogLog>;

/** Exact while small, then a seeded HyperLogLog: the same values give the same estimate on every run. */
class ApproxDistinct implements Aggregator {
  exact: Set<string> | undefined = new Set<string>();
  sketch: Hll | undefined;
  constructor(private readonly a: AggregationConfig) {}
  add(v: unknown) {
    if (v !== undefined && v !== null) this.addKey(asKey(v));
  }
  private addKey(key: string) {
    if (this.exact) {
      this.exact.add(key);
      if (this.exact.size <= EXACT_DISTINCT_LIMIT) return;
      this.sketch = new bf.HyperLogLog(HLL_REGISTERS);
      for (const k of this.exact) this.sketch.update(k);
      this.exact = undefined;
    } else this.sketch!.update(key);
  }
  merge(other: Aggregator) {
    const o = other as ApproxDistinct;
    if (o.exact) for (const k of o.exact) this.addKey(k);
    else if (this.exact) {
      const mine = this.exact;
      this.exact = undefined;
      this.sketch = o.sketch!;
      for (const k of mine) this.sketch.update(k);
    } else this.sketch = this.sketch!.merge(o.sketch!);
  }
  write(into: Record<string, unknown>) {
    into[this.a.name] = this.exact ? this.exact.size : Math.round(this.sketch!.count());
  }
}

/** A factory per aggregation of a feature set; stateless ones share one instance. */
export function aggregatorFactory(a: AggregationConfig): () => Aggregator {
  if (a.fn === 'count' || a.fn === 'rate') {
    const shared = new CountOrRate(a);
    return () => shared;
  }
  return () => createAggregator(a);
}

function createAggregator(a: AggregationConfig): Aggregator {
  switch (a.fn) {
    case 'count':
    case 'rate':
      return new CountOrRate(a);
    case 'sum':
    case 'avg':
    case 'variance':
    case 'stddev':
      return new Moments(a);
    case 'min':
    case 'max':
      return new Extreme(a);
    case 'first':
    case 'last':
      return new Positional(a);
    case 'count_distinct':
      return new Distinct(a);
    case 'approx_count_distinct':
      return new ApproxDistinct(a);
  }
}
