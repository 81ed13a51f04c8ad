import type { Admin } from 'kafkajs';
import { errorMessage, type Logger } from '../core/index.js';
import type { LaneActivity, LaneChain } from './laneChain.js';

export interface IdleTicksDeps {
  readonly logger: Logger;
  readonly chain: LaneChain;
  /** The source's admin client, once connected. */
  readonly admin: () => Admin | undefined;
}

/**
 * Ticks for caught-up lanes that get no records, so windows can close on an idle timeout: every
 * `every` ms such a lane gets an empty batch with how long it has been idle. Idle time counts only
 * up to when Kafka last confirmed that the partition had nothing more.
 */
export function createIdleTicks(deps: IdleTicksDeps) {
  const { logger, chain } = deps;
  /** When quiet lanes' high watermarks were last asked for, and whether an answer is awaited. */
  let confirmAskedAt = 0;
  let confirming = false;

  /**
   * Asks Kafka, at most once per `every`, whether quiet lanes really have nothing more: their idle
   * time (and with it an idle clock) runs only up to such an answer.
   */
  function confirmQuiet(quiet: readonly [string, LaneActivity][], every: number) {
    const asked = Date.now();
    const a = deps.admin();
    if (quiet.length === 0 || confirming || !a || asked - confirmAskedAt < every) return;
    confirming = true;
    confirmAskedAt = asked;
    const at = new Map(quiet.map(([id, act]) => [id, { act, next: act.next }]));
    const topics = [...new Set(quiet.map(([id]) => id.slice(0, id.lastIndexOf('/'))))];
    void Promise.all(topics.map(async (topic) => ({ topic, ends: await a.fetchTopicOffsets(topic) })))
      .then((answers) => {
        for (const { topic, ends } of answers) {
          for (const end of ends) {
            const lane = at.get(`${topic}/${end.partition}`);
            // Unchanged since the question (no batch came meanwhile) and nothing after it in Kafka.
            if (lane && lane.act.next === lane.next && BigInt(end.high) <= lane.next)
              lane.act.confirmedAt = Math.max(lane.act.confirmedAt, asked);
          }
        }
      })
      .catch((err: unknown) =>
        logger.debug({ err: errorMessage(err) }, 'could not confirm quiet lanes; they count as busy'),
      )
      .finally(() => (confirming = false));
  }

  return {
    /** Hand an empty batch to every caught-up lane that has had no records for a tick's time. */
    tick(every: number) {
      const now = Date.now();
      const quiet: [string, LaneActivity][] = [];
      for (const [id, commits, act] of chain.opened()) {
        if (act.pending || !act.caughtUp) continue;
        if (now - act.lastRecordAt < every) continue;
        quiet.push([id, act]);
        if (now - act.lastTickAt < every) continue;
        act.lastTickAt = now;
        const at = (act.next - 1n).toString();
        const idleMs = Math.max(0, act.confirmedAt - act.lastRecordAt);
        chain.handOutEmpty(id, act, commits, { firstOffset: at, lastOffset: at }, 'an idle tick', idleMs);
      }
      confirmQuiet(quiet, every);
    },
  };
}
