#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config/index.js';
import { errorMessage, PipelineError } from '../core/index.js';
import { prepareStages } from '../pipeline/index.js';
import { produceDemo } from './demoProducer.js';
import { query } from './query.js';
import { run } from './run.js';

function positiveInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number >= 0`);
    return n;
  };
}

function fail(err: unknown): never {
  process.stderr.write(`megaservice: ${errorMessage(err)}\n`);
  process.exit(err instanceof PipelineError && err.kind === 'fatal' ? 2 : 1);
}

const program = new Command('megaservice').description(
  'Kafka -> ingestion -> transformation -> extraction -> storage -> ClickHouse',
);

program
  .command('run')
  .description('run the pipeline until SIGTERM/SIGINT')
  .requiredOption('-c, --config <file>', 'pipeline file (YAML or JSON)')
  .option('--shutdown-timeout <ms>', 'deadline for a graceful stop', positiveInt('--shutdown-timeout'), 30000)
  .option(
    '--exit-when-caught-up',
    'stop once every record of the source topics is consumed and stored',
    false,
  )
  .action(async (o: { config: string; shutdownTimeout: number; exitWhenCaughtUp: boolean }) => {
    const code = await run({
      config: o.config,
      shutdownTimeoutMs: o.shutdownTimeout,
      exitWhenCaughtUp: o.exitWhenCaughtUp,
    }).catch(fail);
    process.exit(code);
  });

program
  .command('validate')
  .description(
    'validate a pipeline file, its environment overrides, schema and lookup files, and expressions, without connecting to anything',
  )
  .requiredOption('-c, --config <file>', 'pipeline file (YAML or JSON)')
  .action(async (o: { config: string }) => {
    const config = await loadConfig(o.config).catch(fail);
    await prepareStages(config).catch(fail);
    process.stdout.write(`${o.config}: valid\n`);
  });

program
  .command('query')
  .description('run one SQL statement against the configured store (server or embedded)')
  .requiredOption('-c, --config <file>', 'pipeline file (YAML or JSON)')
  .option('-f, --format <format>', 'ClickHouse output format', 'PrettyCompactMonoBlock')
  .argument('<sql>', 'the statement')
  .action(async (sql: string, o: { config: string; format: string }) => {
    process.stdout.write(await query(o.config, sql, o.format).catch(fail));
  });

program
  .command('demo-produce')
  .description('produce a deterministic demo stream of JSON events')
  .option('--brokers <list>', 'comma-separated host:port', process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .option('--topic <name>', 'topic (created if missing)', 'demo-events')
  .option('--count <n>', 'records to produce', positiveInt('--count'), 10000)
  .option('--partitions <n>', 'partitions for a new topic', positiveInt('--partitions'), 3)
  .option(
    '--corrupt-every <n>',
    'make every n-th record invalid JSON (0: none)',
    positiveInt('--corrupt-every'),
    0,
  )
  .option('--seed <n>', 'random seed', positiveInt('--seed'), 42)
  .option('--recreate', 'delete the topic first if it exists', false)
  .action(
    async (o: {
      brokers: string;
      topic: string;
      count: number;
      partitions: number;
      corruptEvery: number;
      seed: number;
      recreate: boolean;
    }) => {
      const r = await produceDemo({ ...o, brokers: o.brokers.split(',') }).catch(fail);
      process.stdout.write(
        `produced ${r.produced} records to ${o.topic} (${r.corrupt} deliberately corrupt)\n`,
      );
    },
  );

await program.parseAsync(process.argv);
