import { HEADER_FIELD, KEY_FIELD, TIMESTAMP_FIELD } from './messageFields.js';
import { outputPlan } from './outputs.js';
import type { PipelineConfig } from './schema.js';

/** What fieldsRead reads of a pipeline config. */
type Shape = Pick<PipelineConfig, 'sources' | 'output' | 'deadLetters' | 'forward' | 'features'>;

/**
 * The top-level record fields the pipeline reads from a source's records: its output columns' fields
 * and every feature set's entity, event time and aggregated fields. A dotted path needs its first
 * name's field, whole; `$key`, `$timestamp` and `$header.<name>` read the Kafka message, not a
 * field. undefined when it
 * cannot tell: a source with transform steps (an expression, a rename or a custom module may read any
 * field), and hybrid mode, which forwards whole records.
 */
export function fieldsRead(config: Shape, source: number): ReadonlySet<string> | undefined {
  if (config.forward || config.sources[source]!.transform.length > 0) return undefined;
  const fields = new Set<string>();
  const add = (path: string | undefined) => {
    if (path === undefined || path === KEY_FIELD || path === TIMESTAMP_FIELD || path.startsWith(HEADER_FIELD))
      return;
    fields.add(path.split('.')[0]!);
  };
  const plan = outputPlan(config);
  for (const c of plan?.tables[plan.ofSource[source]!]?.columns ?? []) add(c.field ?? c.name);
  for (const f of config.features) {
    add(f.entity);
    add(f.eventTime);
    for (const a of f.aggregations) add(a.field);
  }
  return fields;
}
