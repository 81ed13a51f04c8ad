import { createAck, errorMessage, type Batch, type Logger, type SourceRecord } from '../core/index.js';
import { createLaneCommits, type CommitPoint, type LaneCommits } from './laneCommits.js';

/** What the source knows of a lane's hand-outs (this generation). */
export interface LaneActivity {
  /** the offset after the last record handed out */
  next: bigint;
  /** the last batch reached the partition's high watermark */
  caughtUp: boolean;
  lastRecordAt: number;
  /**
   * When Kafka last confirmed that the partition had nothing after `next` (its high watermark, asked
   * for while the lane was quiet). Only the time between the last record and this counts as idle:
   * a lane that got nothing because consumption was paused or slow may have records waiting.
   */
  confirmedAt: number;
  lastTickAt: number;
  /**
   * Resolves once storage took every batch (and tick) of this lane handed out so far, or rejects with
   * the first that failed; undefined once it settled. A tick waits for it.
   */
  pending: Promise<void> | undefined;
  /** number of the next batch or tick of this lane in this generation */
  seq: number;
}

/** A lane of this generation: its commits in order and its activity. */
export interface OpenLane {
  readonly commits: LaneCommits;
  readonly act: LaneActivity;
  /** The lane's first batch in this generation: it starts at the committed offset. */
  readonly first: boolean;
}

export interface LaneChainDeps {
  readonly logger: Logger;
  /** Called when a batch failed after storage accepted it: nothing after it can be committed. */
  readonly onFatal: (err: unknown) => void;
  /** Counts commits sent, by result. */
  readonly offsetCommits?: { inc(labels: { result: 'ok' | 'failed' }): void };
  /** Partitions assigned now, as `topic/partition`. */
  readonly assigned: ReadonlySet<string>;
  /** Hands a batch to the pipeline. */
  readonly emit: (batch: Batch<SourceRecord>) => void;
  /** Commits a lane's offset (kafkajs' `commitOffsets`). */
  readonly commit: (
    topic: string,
    partition: number,
    offset: string,
    metadata: string | null,
  ) => Promise<void>;
  readonly stopping: () => boolean;
}

/**
 * The lanes' batches between the source and storage: each batch (or tick) goes out behind the
 * lane's previous one, its commit waits in the lane's order until it is stored, and the source
 * learns when storage took everything after a backlog.
 */
export function createLaneChain(deps: LaneChainDeps) {
  const { logger, assigned } = deps;
  let lanes = new Map<string, LaneCommits>();
  let activity = new Map<string, LaneActivity>();
  /** What each lane last committed this generation: a quiet lane's ticks would repeat it. */
  let lastCommit = new Map<string, string>();
  const commitChains = new Map<string, Promise<void>>();
  /** Batches and ticks handed out that storage has not taken yet. */
  let inChain = 0;
  /** A batch ended below its partition's high watermark since the lanes last caught up. */
  let behind = false;
  const caughtUpListeners: (() => void)[] = [];
  /** Next offset of each lane not yet taken by storage. */
  const handedOut = new Map<string, bigint>();

  function commitLane(topic: string, partition: number, lanesAtStart: Map<string, LaneCommits>) {
    const id = `${topic}/${partition}`;
    return ({ offset, metadata }: CommitPoint) => {
      // A lane whose partition moved to another member (or was reassigned: a new generation refetches
      // from the committed offset) no longer commits; its records are stored and at worst stored again.
      if (lanes !== lanesAtStart || !assigned.has(id)) return;
      const point = `${offset}|${metadata ?? ''}`;
      if (lastCommit.get(id) === point) return;
      const prev = commitChains.get(id) ?? Promise.resolve();
      const committed = lastCommit;
      const next = prev
        .then(() => deps.commit(topic, partition, offset.toString(), metadata))
        .then(() => {
          committed.set(id, point); // a failed one is asked again by the next tick
          deps.offsetCommits?.inc({ result: 'ok' });
        })
        .catch((err) => {
          deps.offsetCommits?.inc({ result: 'failed' });
          logger.warn(
            { lane: id, offset: offset.toString(), err: errorMessage(err) },
            'offset commit failed',
          );
        });
      commitChains.set(id, next);
    };
  }

  /** After a backlog, once every assigned lane reached its high watermark and storage took it all. */
  function caughtUpAfterBacklog() {
    if (!behind || deps.stopping() || assigned.size === 0) return;
    for (const id of assigned) if (activity.get(id)?.caughtUp !== true) return;
    behind = false;
    for (const l of caughtUpListeners) l();
  }

  function markHandedOut(id: string, next: bigint) {
    if ((handedOut.get(id) ?? -1n) < next) handedOut.set(id, next);
  }

  /** The lane read up to `next`; it caught up if that reaches the partition's high watermark. */
  function advance(act: LaneActivity, next: bigint, highWatermark: string) {
    act.next = next;
    act.caughtUp = BigInt(highWatermark) <= next;
    if (!act.caughtUp) behind = true;
  }

  /**
   * A batch (or tick) of a lane up to its `next` goes out: its commit waits in the lane's order until
   * it is stored, and a failure after storage took it stops the pipeline (nothing after it can be
   * committed).
   */
  function handOut(id: string, act: LaneActivity, commits: LaneCommits) {
    const next = act.next;
    const entry = commits.add(next);
    const { ack, accepted, done, commit } = createAck();
    done.then(
      () => entry.done(commit()),
      (err: unknown) => {
        logger.error(
          { lane: id, err: errorMessage(err) },
          'a stored batch failed: nothing after it is committed',
        );
        deps.onFatal(err);
      },
    );
    // Until storage takes it, the batch is in the chain: drain waits for it, and ticks wait behind it.
    inChain++;
    const taken = () => {
      if (--inChain === 0) caughtUpAfterBacklog();
    };
    void accepted.then(taken, taken);
    // Once storage took it, the lane is no longer behind up to `next` (see the source's `behind`).
    void accepted.then(
      () => markHandedOut(id, next),
      () => undefined,
    );
    const chain = act.pending ? act.pending.then(() => accepted) : accepted;
    chain.catch(() => undefined); // observed by the lane's next batch, if one comes
    act.pending = chain;
    const clear = () => {
      if (act.pending === chain) act.pending = undefined;
    };
    void chain.then(clear, clear);
    return { ack, accepted, seq: act.seq++ };
  }

  /**
   * A batch without records up to the lane's `next` (an idle tick, or a range with nothing to hand
   * out): it goes through the chain like any batch, so the lane commits behind it.
   */
  function handOutEmpty(
    id: string,
    act: LaneActivity,
    commits: LaneCommits,
    span: { firstOffset: string; lastOffset: string },
    what: string,
    idleMs?: number,
  ) {
    const slash = id.lastIndexOf('/');
    const lane = { topic: id.slice(0, slash), partition: Number(id.slice(slash + 1)) };
    const { ack, accepted, seq } = handOut(id, act, commits);
    accepted.catch((err: unknown) =>
      logger.warn({ lane: id, err: errorMessage(err) }, `${what} failed before storage`),
    );
    deps.emit({
      lane,
      ack,
      ...span,
      records: [],
      rejected: [],
      filtered: 0,
      seq,
      ...(idleMs !== undefined ? { idleMs } : {}),
    });
  }

  return {
    handOut,
    handOutEmpty,
    advance,

    /** A new group generation: every lane starts again from its commit (see commitLane). */
    newGeneration() {
      lanes = new Map();
      lastCommit = new Map();
      activity = new Map();
    },

    /** The lane of this generation, opened by its first batch. */
    open(topic: string, partition: number): OpenLane {
      const id = `${topic}/${partition}`;
      let commits = lanes.get(id);
      const first = commits === undefined;
      if (!commits) {
        commits = createLaneCommits(commitLane(topic, partition, lanes));
        lanes.set(id, commits);
      }
      let act = activity.get(id);
      if (!act) {
        act = {
          next: 0n,
          caughtUp: false,
          lastRecordAt: 0,
          confirmedAt: 0,
          lastTickAt: 0,
          pending: undefined,
          seq: 0,
        };
        activity.set(id, act);
      }
      return { commits, act, first };
    },

    /** Lanes of this generation that got a batch: [id, commits, activity]. */
    *opened(): Generator<readonly [string, LaneCommits, LaneActivity]> {
      for (const [id, act] of activity) {
        const commits = lanes.get(id);
        if (commits) yield [id, commits, act];
      }
    },

    onCaughtUp(listener: () => void) {
      caughtUpListeners.push(listener);
    },

    /** Batches or ticks handed out that storage has not taken yet. */
    inChain: () => inChain,

    handedOut: (id: string) => handedOut.get(id),

    /** Every commit sent so far, settled. */
    commitsSettled: () => Promise.all(commitChains.values()),

    /**
     * kafkajs does not hand out a batch of only transaction markers or aborted records, but tells
     * of it. When nothing the lane has not seen lies between, the lane moves past them with an empty
     * batch through the chain, as the Java consumer's position does: it commits past them (with the
     * window state's metadata, which extraction writes), counts as caught up, and reports no lag
     * for them.
     */
    skipped(e: {
      payload: {
        topic: string;
        partition: number;
        batchSize: number;
        firstOffset: string | null;
        lastOffset: string;
        highWatermark: string;
      };
    }) {
      const { topic, partition, batchSize, firstOffset, lastOffset, highWatermark } = e.payload;
      if (batchSize !== 0 || firstOffset === null) return;
      const id = `${topic}/${partition}`;
      const act = activity.get(id);
      const commits = lanes.get(id);
      const next = BigInt(lastOffset) + 1n;
      if (!act || !commits || deps.stopping() || BigInt(firstOffset) > act.next || next <= act.next) return;
      advance(act, next, highWatermark);
      handOutEmpty(id, act, commits, { firstOffset, lastOffset }, 'a skipped range');
    },
  };
}

export type LaneChain = ReturnType<typeof createLaneChain>;
