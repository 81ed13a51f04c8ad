import { HEADER_FIELD, KEY_FIELD, TIMESTAMP_FIELD, type FeatureSetConfig } from '../config/index.js';
import { parseDate, type DecodedRecord } from '../core/index.js';
import { fieldReader } from './project.js';

/** Where a feature set finds a record's entity and event time. */
export interface KeyPlan {
  readonly fs: FeatureSetConfig;
  readonly entity: ReturnType<typeof fieldReader> | undefined;
  readonly eventTime: ReturnType<typeof fieldReader> | undefined;
}

/** Header values are text: there, digits alone are epoch milliseconds. */
function eventTimeReader(field: string): ReturnType<typeof fieldReader> {
  const read = fieldReader(field);
  if (!field.startsWith(HEADER_FIELD)) return read;
  return (fields, headers) => {
    const v = read(fields, headers);
    return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  };
}

export function keyPlan(fs: FeatureSetConfig): KeyPlan {
  return {
    fs,
    entity: fs.entity === KEY_FIELD ? undefined : fieldReader(fs.entity),
    eventTime: fs.eventTime === TIMESTAMP_FIELD ? undefined : eventTimeReader(fs.eventTime),
  };
}

export function entityOf(k: KeyPlan, r: DecodedRecord): string | { reason: string } {
  if (!k.entity) {
    return r.source.key === null
      ? { reason: `feature set ${k.fs.name}: the message key (entity) is null` }
      : r.source.key.toString('utf8');
  }
  const v = k.entity(r.fields, r.source.headers);
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return {
    reason: `feature set ${k.fs.name}: entity field '${k.fs.entity}' is ${v === undefined ? 'missing' : 'not a string or number'}`,
  };
}

export function eventTimeOf(k: KeyPlan, r: DecodedRecord): number | { reason: string } {
  if (!k.eventTime) return r.source.timestamp;
  const v = k.eventTime(r.fields, r.source.headers);
  const t = typeof v === 'number' ? v : typeof v === 'string' ? parseDate(v) : NaN;
  if (Number.isFinite(t)) return t;
  return {
    reason: `feature set ${k.fs.name}: event time field '${k.fs.eventTime}' is ${v === undefined ? 'missing' : 'not epoch milliseconds or an ISO-8601 date-time'}`,
  };
}
