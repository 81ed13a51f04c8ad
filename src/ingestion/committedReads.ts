import type { Admin } from 'kafkajs';

/** The group's committed metadata of a lane's partition, as its first batch in a generation needs it. */
export type CommittedMetadata = (topic: string, partition: number) => Promise<string | null>;

/**
 * Reads committed metadata once per topic for a group generation: the first lane of a topic to ask
 * starts the read, and every other lane of that topic, asking at the same time or later, gets its
 * partition from the same answer. A lane asked for its own before, and Kafka answers every
 * partition of a topic each time, so N lanes of a topic meant N requests and N² partitions.
 *
 * One answer serves the whole generation: a partition's commit changes only through its lane here,
 * which starts by reading it, and a rebalance (a new generation, a new reader) comes before any
 * other member commits it. A failed read is not kept; the next lane to ask reads again.
 */
export function committedReads(
  fetchOffsets: (topic: string) => ReturnType<Admin['fetchOffsets']>,
): CommittedMetadata {
  const reads = new Map<string, Promise<Map<number, string | null>>>();
  return async (topic, partition) => {
    let read = reads.get(topic);
    if (!read) {
      const started = fetchOffsets(topic).then(([t]) => {
        const byPartition = new Map<number, string | null>();
        for (const p of t?.partitions ?? []) byPartition.set(p.partition, p.metadata ?? null);
        return byPartition;
      });
      read = started;
      reads.set(topic, started);
      started.catch(() => {
        if (reads.get(topic) === started) reads.delete(topic);
      });
    }
    return (await read).get(partition) ?? null;
  };
}
