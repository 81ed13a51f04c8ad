import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../config/index.js';
import { createLogger } from '../core/index.js';
import { createPipeline } from './pipeline.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('createPipeline', () => {
  it('leaves nothing behind that keeps a dropped pipeline in memory', async () => {
    const config = validateConfig(
      {
        kafka: { brokers: ['127.0.0.1:1'], groupId: 'g' },
        sources: [{ topics: ['t'], format: 'json' }],
        output: { table: 't', columns: [{ name: 'a', type: 'String' }] },
        storage: { url: 'http://127.0.0.1:1' },
        http: { enabled: false },
      },
      {},
      '/tmp/pipeline.yaml',
    );
    const dropped = () =>
      new WeakRef(createPipeline(config, { logger: createLogger({ level: 'silent' }) }).sink);
    const refs = [dropped(), dropped(), dropped()];
    // Metrics registered per pipeline (a GC observer, an event-loop monitor) used to hold each one.
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(refs.map((r) => r.deref() === undefined)).toEqual([true, true, true]);
  });
});
