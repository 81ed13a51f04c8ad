import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../config/index.js';
import { createAck, type Batch, type DecodedRecord, type SourceRecord } from '../core/index.js';
import { prepareTransform, transform } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'transform-'));
writeFileSync(join(dir, 'users.csv'), 'user_id,country,tier\nu1,NO,gold\nu2,DE,silver\n');
writeFileSync(
  join(dir, 'tiers.json'),
  JSON.stringify({ gold: { discount: 0.2 }, silver: { discount: 0.1 } }),
);
writeFileSync(
  join(dir, 'custom.mjs'),
  `export default (r, ctx) => r.drop ? null : r.bad ? { reject: 'custom says no' } : { ...r, from: ctx.topic + '/' + ctx.offset };`,
);

function source(offset: number): SourceRecord {
  return {
    topic: 't',
    partition: 0,
    offset: String(offset),
    key: null,
    value: Buffer.from('{}'),
    headers: {},
    timestamp: 0,
  };
}

async function run(steps: unknown[], inputs: Record<string, unknown>[]) {
  const config = validateConfig({
    kafka: { brokers: ['k:1'], groupId: 'g' },
    sources: [{ topics: ['t'], transform: steps }],
    output: { table: 'x', columns: [{ name: 'a', type: 'String' }] },
  });
  const compiled = await prepareTransform(config.sources[0]!, 0, dir);
  const batch: Batch<DecodedRecord> = {
    lane: { topic: 't', partition: 0 },
    ack: createAck().ack,
    firstOffset: '0',
    lastOffset: String(inputs.length - 1),
    records: inputs.map((fields, i) => ({ source: source(i), fields: structuredClone(fields) })),
    rejected: [],
    filtered: 0,
  };
  const out = await lastValueFrom(from([batch]).pipe(transform(() => compiled)));
  return {
    fields: out.records.map((r) => r.fields),
    rejected: out.rejected.map((r) => [Number(r.source.offset), r.stage, r.reason]),
    filtered: out.filtered,
  };
}

describe('transform steps', () => {
  it('require checks presence and types, naming the field', async () => {
    const r = await run(
      [{ require: { id: 'string', n: 'integer' } }],
      [{ id: 'a', n: 1 }, { id: 'b' }, { id: 'c', n: 1.5 }],
    );
    expect(r.fields).toEqual([{ id: 'a', n: 1 }]);
    expect(r.rejected).toEqual([
      [1, 'transformation', "field 'n' is required (integer) but missing"],
      [2, 'transformation', "field 'n' must be integer, got number 1.5"],
    ]);
  });

  it('rename, cast and default, in order, with nested paths', async () => {
    const r = await run(
      [
        { rename: { amt: 'amount', 'u.id': 'user_id' } },
        { cast: { amount: 'number', paid: 'boolean' } },
        { default: { currency: 'EUR' } },
      ],
      [{ amt: '12.5', paid: 'true', u: { id: 'u1' } }, { amt: 'twelve' }],
    );
    expect(r.fields).toEqual([{ amount: 12.5, paid: true, u: {}, user_id: 'u1', currency: 'EUR' }]);
    expect(r.rejected).toEqual([
      [1, 'transformation', 'field \'amount\': cannot cast the string "twelve" to number'],
    ]);
  });

  it('default sets a list (an empty Array column), a copy for each record', async () => {
    const r = await run([{ default: { tags: [] } }], [{ id: 'a' }, { id: 'b' }, { id: 'c', tags: ['x'] }]);
    expect(r.fields).toEqual([
      { id: 'a', tags: [] },
      { id: 'b', tags: [] },
      { id: 'c', tags: ['x'] },
    ]);
    const [a, b] = r.fields as { tags: unknown[] }[];
    expect(a!.tags).not.toBe(b!.tags);
  });

  it('derive evaluates expressions and rejects a record whose expression fails', async () => {
    const r = await run(
      [
        {
          derive: {
            total: 'amount * quantity',
            label: 'if amount > 10 then upper(kind) else lower(kind)',
            city: 'lower(address.city)',
          },
        },
      ],
      [
        { amount: 12, quantity: 2, kind: 'Big', address: { city: 'OSLO' } },
        { amount: 1, quantity: 3, kind: 'Small', address: { city: 'Bergen' } },
        { amount: 1, kind: 'x', address: {} },
      ],
    );
    expect(r.fields.map((f) => [f.total, f.label, f.city])).toEqual([
      [24, 'BIG', 'oslo'],
      [3, 'small', 'bergen'],
    ]);
    expect(r.rejected).toEqual([[2, 'transformation', "derive 'total': field 'quantity' is missing"]]);
  });

  it('filter counts what it drops instead of rejecting it', async () => {
    const r = await run(
      [{ filter: 'kind != "heartbeat"' }],
      [{ kind: 'a' }, { kind: 'heartbeat' }, { kind: 'b' }],
    );
    expect(r.fields).toEqual([{ kind: 'a' }, { kind: 'b' }]);
    expect(r.filtered).toBe(1);
    expect(r.rejected).toEqual([]);
  });

  it('a missing field reads as null: comparisons and exists() work, arithmetic rejects naming it', async () => {
    const r = await run(
      [{ filter: 'status != "test"' }, { derive: { known: 'exists(size)', double: 'size * 2' } }],
      [{ size: 2 }, { status: 'test', size: 1 }, {}],
    );
    expect(r.fields).toEqual([{ size: 2, known: true, double: 4 }]);
    expect(r.filtered).toBe(1);
    expect(r.rejected).toEqual([[2, 'transformation', "derive 'double': field 'size' is missing"]]);
  });

  it('enrich joins CSV and JSON lookups, with a policy for missing keys', async () => {
    const r = await run(
      [
        { enrich: { file: 'users.csv', key: 'user_id', fields: ['country', 'tier'] } },
        { enrich: { file: 'tiers.json', key: 'tier', missing: 'reject' } },
      ],
      [{ user_id: 'u1' }, { user_id: 'u2' }, { user_id: 'u9' }],
    );
    expect(r.fields).toEqual([
      { user_id: 'u1', country: 'NO', tier: 'gold', discount: 0.2 },
      { user_id: 'u2', country: 'DE', tier: 'silver', discount: 0.1 },
    ]);
    expect(r.rejected).toEqual([[2, 'transformation', 'enrich: no row in tiers.json for tier missing']]);
  });

  it('custom module transforms, filters (null) and rejects', async () => {
    const r = await run([{ custom: './custom.mjs' }], [{ a: 1 }, { drop: true }, { bad: true }]);
    expect(r.fields).toEqual([{ a: 1, from: 't/0' }]);
    expect(r.filtered).toBe(1);
    expect(r.rejected).toEqual([[2, 'transformation', 'custom says no']]);
  });
});
