import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { from, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { createAck, type Batch, type DecodedRecord } from '../src/core/index.js';
import { prepareStages } from '../src/pipeline/index.js';
import { transform } from '../src/transformation/index.js';
import avro from 'avsc';

const examples = resolve(import.meta.dirname, '../examples');

describe('examples/', () => {
  it.each(readdirSync(examples).filter((f) => f.endsWith('.yaml')))(
    '%s validates, files and expressions included',
    async (file) => {
      const config = await loadConfig(resolve(examples, file), {});
      await expect(prepareStages(config)).resolves.toBeDefined();
    },
  );

  it('schemas/order.avsc is a valid Avro schema', () => {
    expect(
      avro.Type.forSchema(JSON.parse(readFileSync(resolve(examples, 'schemas/order.avsc'), 'utf8'))).name,
    ).toBe('shop.Order');
  });

  it('orders.yaml transforms a shop order as its comments say', async () => {
    const config = await loadConfig(resolve(examples, 'orders.yaml'), {});
    const stages = await prepareStages(config);
    const record = (offset: number, fields: Record<string, unknown>): DecodedRecord => ({
      source: {
        topic: 'orders.eu',
        partition: 0,
        offset: String(offset),
        key: null,
        value: null,
        headers: {},
        timestamp: 0,
      },
      fields,
    });
    const batch: Batch<DecodedRecord> = {
      lane: { topic: 'orders.eu', partition: 0 },
      ack: createAck().ack,
      firstOffset: '0',
      lastOffset: '2',
      records: [
        record(0, { order_id: 'o1', customer: { id: 'c-2' }, amt: '40', quantity: '3', sku: ' ab 12 ' }),
        record(1, { order_id: 'o2', customer: { id: 'c-9' }, amt: 5, status: 'test' }),
        record(2, { order_id: 'o3', amt: 5 }),
      ],
      rejected: [],
      filtered: 0,
    };
    const out = await lastValueFrom(from([batch]).pipe(transform(stages.transformFor)));
    expect(out.records.map((r) => r.fields)).toEqual([
      {
        order_id: 'o1',
        customer: {},
        customer_id: 'c-2',
        amount: 40,
        quantity: 3,
        currency: 'EUR',
        channel: 'web',
        total: 120,
        size: 'large',
        sku: 'AB-12',
        country: 'SE',
        segment: 'business',
      },
    ]);
    expect(out.filtered).toBe(1);
    expect(out.rejected.map((r) => r.reason)).toEqual(["field 'customer' is required (object) but missing"]);
  });
});
