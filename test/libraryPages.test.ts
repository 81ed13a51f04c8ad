import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/core/index.js';
import { CHDB_LIBRARY, createClickHouseClient } from '../src/storage/index.js';
import { fileBackedMappings, parseSmaps, releaseLibraryPages } from '../src/storage/libraryPages.js';

const dir = mkdtempSync(join(tmpdir(), 'library-pages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = createLogger({ level: 'silent' });
// chDB binds one data directory per process: both tests use it.
const engineDir = join(dir, 'chdb');

/** What chDB's library holds resident in this process in the mappings the release advises, in MiB. */
const residentMiB = () =>
  fileBackedMappings(parseSmaps(readFileSync('/proc/self/smaps', 'utf8')), CHDB_LIBRARY).reduce(
    (sum, m) => sum + m.rssKiB / 1024,
    0,
  );

// chDB's engine in this process (each test file runs in a process of its own, one at a time, so no
// other process maps the library's pages: a page mapped by two processes is not reclaimed).
describe("chDB's library pages", () => {
  it('are given back once the engine has started, and the engine goes on working', async () => {
    const { Session } = await import('chdb');
    const session = new Session(engineDir);
    expect(session.query('SELECT 1', 'TSV').trim()).toBe('1');
    // The library's start leaves much of its code and read-only data resident (about 160 MiB here).
    const started = residentMiB();
    expect(started).toBeGreaterThan(64);

    const released = await releaseLibraryPages(CHDB_LIBRARY, logger);
    expect(released?.mappings).toBeGreaterThan(0);
    expect(released!.residentMiB).toBeGreaterThan(started * 0.9);
    expect(residentMiB()).toBeLessThan(started / 4);

    // The code comes back from the file as the engine runs it.
    session.query('CREATE TABLE t (k UInt32, v String) ENGINE = MergeTree ORDER BY k');
    session.query('INSERT INTO t SELECT number, toString(number) FROM numbers(100000)');
    expect(session.query('SELECT count(), sum(k), max(v) FROM t', 'TSV').trim()).toBe(
      '100000\t4999950000\t99999',
    );
    session.close();
  });

  it('are given back when the storage client opens the embedded engine', async () => {
    // The engine of the test above still runs: touch its code again, then open a client.
    const { Session } = await import('chdb');
    const session = new Session(engineDir);
    session.query('SELECT sum(number) FROM numbers(1000000)', 'TSV');
    session.close();
    const before = residentMiB();
    expect(before).toBeGreaterThan(16);
    const client = await createClickHouseClient(
      { path: engineDir, username: 'default', password: '', requestTimeoutMs: 30_000 },
      logger,
    );
    expect(residentMiB()).toBeLessThan(Math.max(before / 2, 8));
    const rows = await (
      await client.query({
        query: 'SELECT toString(sum(number)) AS s FROM numbers(1000000)',
        format: 'JSONEachRow',
      })
    ).json();
    expect(rows).toEqual([{ s: '499999500000' }]);
    await client.close();
  });
});
