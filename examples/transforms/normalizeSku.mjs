// A custom transform: a synchronous function of one record (and its Kafka position).
// Return the record (changed or new), null to filter it out, or { reject: 'reason' } to dead-letter it.
export default function normalizeSku(record) {
  if (record.sku === undefined || record.sku === null) return record;
  if (typeof record.sku !== 'string') return { reject: `sku must be a string, got ${typeof record.sku}` };
  return { ...record, sku: record.sku.trim().toUpperCase().replace(/\s+/g, '-') };
}
