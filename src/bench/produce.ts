#!/usr/bin/env node
/**
 * The benchmark's load generator as its own process: `node dist/bench/produce.js <brokers> <topic>
 * <perSecond> <seconds> <json|avro>` prints how many records it sent. Run apart from
 * the pipeline, it shares the machine's cores with it (as a producer on the same host would), but
 * not its event loop or its resident memory.
 */
import { produceAtRate } from './live.js';

const [brokers, topic, perSecond, seconds, format] = process.argv.slice(2);
produceAtRate(brokers!, topic!, Number(perSecond), Number(seconds), format as 'json' | 'avro').then(
  (sent) => {
    process.stdout.write(`${sent}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`produce failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
