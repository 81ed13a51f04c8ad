import type { Admin } from 'kafkajs';

/** A partition's first and next offsets, and the group's committed offset (none yet: undefined). */
export interface PartitionOffsets {
  readonly low: bigint;
  readonly high: bigint;
  readonly committed: bigint | undefined;
}

/**
 * Each partition's start and end and the group's commit, by lane (`topic/partition`), in one round
 * of requests. A scrape reads the lag and the backlog gauges at once: both take the same round
 * (reused for a second) instead of a round each. A failed round is not reused.
 */
export function createOffsetsRound(deps: {
  admin: () => Admin | undefined;
  topics: () => Promise<string[]>;
  groupId: string;
}): () => Promise<Map<string, PartitionOffsets>> {
  let last: { at: number; offsets: Promise<Map<string, PartitionOffsets>> } | undefined;

  async function ask(): Promise<Map<string, PartitionOffsets>> {
    const out = new Map<string, PartitionOffsets>();
    const admin = deps.admin();
    if (!admin) return out;
    const topics = await deps.topics();
    const committed = await admin.fetchOffsets({ groupId: deps.groupId, topics });
    for (const { topic, partitions } of committed) {
      for (const end of await admin.fetchTopicOffsets(topic)) {
        const c = partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
        out.set(`${topic}/${end.partition}`, {
          low: BigInt(end.low),
          high: BigInt(end.high),
          committed: c === '-1' ? undefined : BigInt(c),
        });
      }
    }
    return out;
  }

  return () => {
    const now = Date.now();
    if (last && now - last.at < 1000) return last.offsets;
    const round = { at: now, offsets: ask() };
    last = round;
    round.offsets.catch(() => {
      if (last === round) last = undefined;
    });
    return round.offsets;
  };
}
