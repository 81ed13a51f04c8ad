/**
 * Per-lane commit bookkeeping. A lane hands out batches in offset order and may fetch on before they
 * are stored; they can be stored out of order (several inserts in flight). The lane commits only the
 * end of the longest prefix of stored batches, so an offset is committed only when every record
 * below it is stored or dead-lettered.
 */
export interface CommitPoint {
  readonly offset: bigint;
  readonly metadata: string | null;
}

export interface LaneCommits {
  /**
   * Register a handed-out batch whose next offset (last + 1) becomes committable once it is done;
   * `done` may commit less (an earlier offset with metadata) when the batch asks for it.
   */
  add(nextOffset: bigint): { done(override?: CommitPoint): void };
  /** Batches handed out and not yet done. */
  pending(): number;
}

export function createLaneCommits(commit: (point: CommitPoint) => void): LaneCommits {
  const entries: { point: CommitPoint; done: boolean }[] = [];
  return {
    add(next) {
      const entry = { point: { offset: next, metadata: null } as CommitPoint, done: false };
      entries.push(entry);
      return {
        done(override) {
          entry.done = true;
          if (override) entry.point = override;
          let committable: CommitPoint | undefined;
          while (entries.length > 0 && entries[0]!.done) committable = entries.shift()!.point;
          if (committable !== undefined) commit(committable);
        },
      };
    },
    pending: () => entries.length,
  };
}
