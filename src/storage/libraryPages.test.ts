import { describe, expect, it } from 'vitest';
import { fileBackedMappings, parseSmaps } from './libraryPages.js';

/** Five mappings as /proc/self/smaps shows them (fields a mapping has but the parser skips, cut). */
const SMAPS = `7f1c00000000-7f1c08000000 r--p 00000000 fd:01 1234                       /app/node_modules/@chdb/lib-linux-x64-gnu/lib/libchdb.so
Size:             131072 kB
Rss:               58000 kB
Pss:               58000 kB
Anonymous:             0 kB
Referenced:         7000 kB
7f1c08000000-7f1c20000000 r-xp 08000000 fd:01 1234                       /app/node_modules/@chdb/lib-linux-x64-gnu/lib/libchdb.so
Size:             393216 kB
Rss:              117000 kB
Anonymous:             0 kB
7f1c20000000-7f1c20d00000 r--p 20000000 fd:01 1234                       /app/node_modules/@chdb/lib-linux-x64-gnu/lib/libchdb.so
Size:              13312 kB
Rss:               13000 kB
Anonymous:         13000 kB
7f1c20d00000-7f1c20e00000 rw-p 20d00000 fd:01 1234                       /app/node_modules/@chdb/lib-linux-x64-gnu/lib/libchdb.so
Size:               1024 kB
Rss:                 512 kB
Anonymous:           256 kB
7f1c30000000-7f1c34000000 rw-p 00000000 00:00 0 
Size:              65536 kB
Rss:               12000 kB
Anonymous:         12000 kB
7f1c40000000-7f1c40100000 r-xp 00000000 fd:01 99                         /usr/lib/x86_64-linux-gnu/libnotchdb.so
Size:               1024 kB
Rss:                1024 kB
Anonymous:             0 kB
`;

describe('parseSmaps', () => {
  it('reads each mapping with its range, permissions, file and resident sizes', () => {
    const maps = parseSmaps(SMAPS);
    expect(maps).toHaveLength(6);
    expect(maps[1]).toEqual({
      start: 0x7f1c08000000,
      end: 0x7f1c20000000,
      perms: 'r-xp',
      path: '/app/node_modules/@chdb/lib-linux-x64-gnu/lib/libchdb.so',
      rssKiB: 117000,
      anonymousKiB: 0,
    });
    expect(maps[4]).toMatchObject({ perms: 'rw-p', path: '', rssKiB: 12000, anonymousKiB: 12000 });
  });
});

describe('fileBackedMappings', () => {
  it("takes the library's read-only mappings whose pages all come from its file", () => {
    const picked = fileBackedMappings(parseSmaps(SMAPS), 'libchdb.so');
    // Not the relocated read-only data (private copies), not the writable data, not another file
    // whose name ends the same.
    expect(picked.map((m) => [m.perms, m.rssKiB])).toEqual([
      ['r--p', 58000],
      ['r-xp', 117000],
    ]);
  });

  it('leaves out a mapping with nothing resident', () => {
    const idle = SMAPS.replace('Rss:               58000 kB', 'Rss:                   0 kB');
    expect(fileBackedMappings(parseSmaps(idle), 'libchdb.so').map((m) => m.perms)).toEqual(['r-xp']);
  });
});
