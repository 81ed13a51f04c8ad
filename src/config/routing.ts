import type { SourceConfig } from './sourceSchema.js';

/** Which source (by index) a topic belongs to: the first whose topics list or pattern matches. */
export function sourceRouter(
  sources: readonly Pick<SourceConfig, 'topics' | 'topicPattern'>[],
): (topic: string) => number | undefined {
  const patterns = sources.map((s) => (s.topicPattern ? new RegExp(s.topicPattern) : undefined));
  const cache = new Map<string, number | undefined>();
  return (topic) => {
    if (cache.has(topic)) return cache.get(topic);
    const i = sources.findIndex((s, k) => s.topics?.includes(topic) || patterns[k]?.test(topic));
    const found = i < 0 ? undefined : i;
    cache.set(topic, found);
    return found;
  };
}
