/**
 * Per-lane commit bookkeeping. A lane hands out batches in offset order and may fetch on before they
 * are stored; they can be stored out of order (several inserts in flight). The lane commits only the
 * end of the longest prefix of stored batches, so an offset is committed only when every record
 * below it is stored or dead-lettered.
 */
export interface LaneCommits {
  /** Register a handed-out batch whose next offset (last + 1) becomes committable once it is done. */
  add(nextOffset: bigint): { done(): void };
  /** Batches handed out and not yet done. */
  pending(): number;
}

export function createLaneCommits(commit: (offset: bigint) => void): LaneCommits {
  const entries: { next: bigint; done: boolean }[] = [];
  return {
    add(next) {
      const entry = { next, done: false };
      entries.push(entry);
      return {
        done() {
          entry.done = true;
          let committable: bigint | undefined;
          while (entries.length > 0 && entries[0]!.done) committable = entries.shift()!.next;
          if (committable !== undefined) commit(committable);
        },
      };
    },
    pending: () => entries.length,
  };
}
