import { Gauge, type Registry } from 'prom-client';
import type { WindowCounts } from '../extraction/index.js';
import type { KafkaSource } from '../ingestion/index.js';
import type { ClickHouseSink } from '../storage/index.js';

/** What the gauges read of the sink. */
type SinkStats = Pick<ClickHouseSink, 'buffer' | 'circuit'>;

const CIRCUIT = { closed: 0, 'half-open': 1, open: 2 } as const;

/** A lane id (`topic/partition`) as metric labels; a topic name may itself hold slashes. */
function laneLabels(lane: string): { topic: string; partition: string } {
  const i = lane.lastIndexOf('/');
  return { topic: lane.slice(0, i), partition: lane.slice(i + 1) };
}

/** Gauges read at scrape time from the live parts (no timers of their own). */
export function registerGauges(
  registry: Registry,
  parts: {
    source: KafkaSource;
    sink: SinkStats;
    openWindows: ReadonlyMap<string, WindowCounts>;
    groupId: string;
  },
): void {
  const { source, sink, openWindows, groupId } = parts;
  new Gauge({
    name: 'megaservice_open_windows',
    help: 'Open windows held in memory per feature set (bounded by its maxOpenWindows)',
    labelNames: ['feature_set'],
    registers: [registry],
    collect() {
      for (const [name, n] of openWindows) this.set({ feature_set: name }, n.open);
    },
  });
  new Gauge({
    name: 'megaservice_closed_windows',
    help: 'Closed windows not yet written per feature set (fixed windows leave a share per batch; also counted as open)',
    labelNames: ['feature_set'],
    registers: [registry],
    collect() {
      for (const [name, n] of openWindows) this.set({ feature_set: name }, n.closed);
    },
  });
  new Gauge({
    name: 'megaservice_feature_watermark_seconds',
    help: 'Event time (epoch seconds) up to which the slowest lane of a feature set can close windows; time() minus it is the event-time lag',
    labelNames: ['feature_set'],
    registers: [registry],
    collect() {
      this.reset(); // a feature set whose lanes all went away has none
      for (const [name, n] of openWindows)
        if (n.watermark !== undefined) this.set({ feature_set: name }, n.watermark / 1000);
    },
  });
  new Gauge({
    name: 'megaservice_buffer_rows',
    help: 'Rows buffered in storage, in-flight inserts included (bounded by storage.bufferRows)',
    registers: [registry],
    collect() {
      this.set(sink.buffer().rows);
    },
  });
  new Gauge({
    name: 'megaservice_buffer_bytes',
    help: 'Kafka value bytes buffered in storage (bounded by storage.bufferBytes)',
    registers: [registry],
    collect() {
      this.set(sink.buffer().bytes);
    },
  });
  new Gauge({
    name: 'megaservice_inserts_in_flight',
    help: 'ClickHouse inserts under way',
    registers: [registry],
    collect() {
      this.set(sink.buffer().inFlight);
    },
  });
  new Gauge({
    name: 'megaservice_lanes_waiting',
    help: 'Lanes waiting for room in the storage buffer (backpressure)',
    registers: [registry],
    collect() {
      this.set(sink.buffer().waitingLanes);
    },
  });
  new Gauge({
    name: 'megaservice_circuit_state',
    help: 'Storage circuit breaker: 0 closed, 1 half-open, 2 open',
    registers: [registry],
    collect() {
      this.set(CIRCUIT[sink.circuit()]);
    },
  });
  new Gauge({
    name: 'megaservice_assigned_partitions',
    help: 'Partitions assigned to this instance',
    registers: [registry],
    collect() {
      this.set(source.assigned().length);
    },
  });
  new Gauge({
    name: 'megaservice_consumer_lag',
    help: 'Records of a partition not yet committed by the consumer group',
    labelNames: ['topic', 'partition'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const [lane, lag] of await source.lag()) {
          this.set(laneLabels(lane), Number(lag));
        }
      } catch {
        // Kafka unreachable: no lag values in this scrape rather than a failed scrape.
      }
    },
  });
  new Gauge({
    name: 'megaservice_records_behind',
    help:
      'Records of the partitions this instance holds that it has not yet taken into processing ' +
      "(what is taken is bounded by the store's buffer): the group's backlog when summed over its " +
      'instances, and what to autoscale on (the consumer lag also counts records that open windows ' +
      'hold back on purpose)',
    labelNames: ['group', 'topic', 'partition'],
    registers: [registry],
    async collect() {
      this.reset();
      const held = new Set(source.assigned());
      try {
        for (const [lane, behind] of await source.behind()) {
          if (!held.has(lane)) continue;
          this.set({ group: groupId, ...laneLabels(lane) }, Number(behind));
        }
      } catch {
        // Kafka unreachable: no values in this scrape rather than a failed scrape.
      }
    },
  });
}
