import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../config/index.js';
import { ConfigError } from '../core/index.js';
import { configWithFeatures } from '../testing/config.js';
import { prepareStages } from './prepare.js';

const dir = mkdtempSync(join(tmpdir(), 'prepare-'));
writeFileSync(join(dir, 'broken.avsc'), '{"type": "record", "name": "X", "fields": [{"name": "a"}]}');
writeFileSync(join(dir, 'nodefault.mjs'), 'export const x = 1;\n');
writeFileSync(join(dir, 'broken.proto'), 'syntax = "proto3"; message X { string a = ; }');
writeFileSync(join(dir, 'ok.proto'), 'syntax = "proto3"; package p; message X { string a = 1; }');

function config(sources: unknown[]) {
  const pipelineFile = join(dir, 'pipeline.yaml');
  return validateConfig(
    {
      kafka: { brokers: ['k:1'], groupId: 'g' },
      sources,
      output: { table: 't', columns: [{ name: 'a', type: 'String' }] },
    },
    {},
    pipelineFile,
  );
}

/** Every mistake, in one message: what the user reads when `megaservice validate` fails. */
async function problems(sources: unknown[]): Promise<string[]> {
  try {
    await prepareStages(config(sources));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

function schemaIssues(sources: unknown[]): string[] {
  try {
    config(sources);
  } catch (err) {
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('config mistakes name their key', () => {
  it('unknown key in a transform step', () => {
    expect(schemaIssues([{ topics: ['t'], transform: [{ renmae: { a: 'b' } }] }])).toEqual([
      'sources[0].transform[0].renmae: unknown key (allowed: require, rename, cast, default, derive, filter, enrich, custom)',
      'sources[0].transform[0]: each step has exactly one of require, rename, cast, default, derive, filter, enrich, custom (found none)',
    ]);
  });

  it('wrong type', () => {
    expect(schemaIssues([{ topics: ['t'], transform: [{ cast: { amount: 'float' } }] }])).toEqual([
      'sources[0].transform[0].cast.amount: must be one of "string", "number", "integer", "boolean"',
    ]);
    expect(schemaIssues([{ topics: 't' }])).toEqual(['sources[0].topics: expected array, received string']);
  });

  it('format and its settings that do not go together', () => {
    expect(schemaIssues([{ topics: ['t'], format: 'avro' }])).toEqual([
      'sources[0].avro: is required when format is avro (schemaFile or registry)',
    ]);
    expect(
      schemaIssues([
        { topics: ['t'], format: 'protobuf' },
        { topics: ['t'], format: 'protobuf', protobuf: { schemaFile: 'x.proto' } },
        {
          topics: ['t'],
          format: 'protobuf',
          protobuf: { registry: { url: 'http://r:8081' }, messageType: 'p.X' },
        },
        { topics: ['t'], format: 'json', protobuf: { schemaFile: 'x.proto', messageType: 'p.X' } },
      ]),
    ).toEqual([
      'sources[0].protobuf: is required when format is protobuf (schemaFile and messageType, or registry)',
      'sources[1].protobuf.messageType: is required with schemaFile (the fully qualified type of the values, e.g. shop.v1.Order)',
      'sources[2].protobuf.messageType: only applies with schemaFile: with a registry, each value names its own type',
      'sources[3].protobuf: only applies to format: protobuf',
    ]);
    expect(schemaIssues([{ topicPattern: '(', topics: ['t'] }])).toEqual([
      'sources[0]: set exactly one of topics, topicPattern',
      'sources[0].topicPattern: not a regular expression: Invalid regular expression: /(/: Unterminated group',
    ]);
  });

  it('missing files', async () => {
    expect(
      await problems([
        { topics: ['a'], format: 'avro', avro: { schemaFile: 'schemas/nope.avsc' } },
        {
          topics: ['b'],
          transform: [{ enrich: { file: 'users.csv', key: 'id' } }, { custom: './nope.mjs' }],
        },
        { topics: ['c'], format: 'protobuf', protobuf: { schemaFile: 'nope.proto', messageType: 'p.X' } },
      ]),
    ).toEqual([
      'sources[0].avro.schemaFile: cannot read schemas/nope.avsc: file not found',
      'sources[1].transform[0].enrich.file: cannot read users.csv: file not found',
      expect.stringMatching(
        /^sources\[1\]\.transform\[1\]\.custom: cannot load \.\/nope\.mjs: Cannot find module /,
      ),
      'sources[2].protobuf.schemaFile: cannot use nope.proto for p.X: file not found',
    ]);
  });

  it('files that are there but wrong', async () => {
    expect(
      await problems([
        { topics: ['a'], format: 'avro', avro: { schemaFile: 'broken.avsc' } },
        { topics: ['b'], transform: [{ custom: './nodefault.mjs' }] },
        { topics: ['c'], format: 'protobuf', protobuf: { schemaFile: 'broken.proto', messageType: 'X' } },
        { topics: ['d'], format: 'protobuf', protobuf: { schemaFile: 'ok.proto', messageType: 'p.Y' } },
      ]),
    ).toEqual([
      expect.stringMatching(/^sources\[0\]\.avro\.schemaFile: broken\.avsc is not a valid Avro schema: /),
      'sources[1].transform[0].custom: ./nodefault.mjs must export a default function (record, context) => record | null | { reject }',
      expect.stringMatching(
        /^sources\[2\]\.protobuf\.schemaFile: cannot use broken\.proto for X: illegal id/,
      ),
      'sources[3].protobuf.schemaFile: cannot use ok.proto for p.Y: no message type p.Y in it (it has: p.X)',
    ]);
  });

  it('bad expressions', async () => {
    const [parse, unknownFn, filter] = await problems([
      {
        topics: ['t'],
        transform: [{ derive: { total: 'amount * ' } }, { derive: { x: 'shout(name)' } }, { filter: 'a ==' }],
      },
    ]);
    expect(parse).toMatch(
      /^sources\[0\]\.transform\[0\]\.derive\.total: bad expression "amount \* ": Parse error on line 1: /,
    );
    expect(unknownFn).toBe(
      'sources[0].transform[1].derive.x: bad expression "shout(name)": unknown function shout() ' +
        '(allowed: abs, ceil, coalesce, concat, contains, empty, endsWith, epochMillis, exists, floor, length, log, log10, log2, lower, max, min, number, round, sqrt, startsWith, string, substr, trim, upper)',
    );
    expect(filter).toMatch(/^sources\[0\]\.transform\[2\]\.filter: bad expression "a ==": Parse error/);
  });

  it('more feature sets than commit metadata can hold', async () => {
    const features = Array.from({ length: 70 }, (_, i) => ({
      name: `feature_set_with_a_long_name_${String(i).padStart(11, '0')}`,
      entity: 'user',
      eventTime: '$timestamp',
      window: { type: 'tumbling', size: '1m' },
      aggregations: [{ name: 'n', fn: 'count' }],
    }));
    const c = configWithFeatures(features);
    await expect(prepareStages(c)).rejects.toMatchObject({
      issues: [
        expect.stringMatching(/^features: 70 feature sets need up to 4\d{3} bytes of commit metadata/),
      ],
    });
    await expect(prepareStages({ ...c, features: c.features.slice(0, 60) })).resolves.toBeDefined();
  });
});
