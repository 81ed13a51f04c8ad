import { readFile } from 'node:fs/promises';
import type { Logger } from '../core/index.js';

/** madvise(2)'s advice to reclaim a range's pages now (Linux 5.4 and later). */
const MADV_PAGEOUT = 21;

/** One mapping of `/proc/<pid>/smaps`, with the two sizes the release needs. */
export interface Mapping {
  readonly start: number;
  readonly end: number;
  /** `r-xp`, `r--p`, `rw-p`, ... */
  readonly perms: string;
  /** The file mapped, or a pseudo-name (`[heap]`), or `''` for an anonymous mapping. */
  readonly path: string;
  /** Resident pages, in KiB. */
  readonly rssKiB: number;
  /** Resident pages that are the process's own (private copies, or never from a file), in KiB. */
  readonly anonymousKiB: number;
}

const MAPPING = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$/;
const SIZE = /^(Rss|Anonymous):\s+(\d+) kB$/;

/** The mappings of a `/proc/<pid>/smaps` text. */
export function parseSmaps(text: string): Mapping[] {
  const maps: { -readonly [K in keyof Mapping]: Mapping[K] }[] = [];
  for (const line of text.split('\n')) {
    const m = MAPPING.exec(line);
    if (m) {
      maps.push({
        start: parseInt(m[1]!, 16),
        end: parseInt(m[2]!, 16),
        perms: m[3]!,
        path: m[4]!,
        rssKiB: 0,
        anonymousKiB: 0,
      });
      continue;
    }
    const s = SIZE.exec(line);
    const last = maps[maps.length - 1];
    if (s && last) last[s[1] === 'Rss' ? 'rssKiB' : 'anonymousKiB'] = Number(s[2]);
  }
  return maps;
}

/**
 * The mappings of the file named `fileName` whose resident pages all come from the file and can
 * be read from it again: not writable, and with no private copies (a read-only mapping the loader
 * relocated holds such copies, and is left alone).
 */
export function fileBackedMappings(maps: readonly Mapping[], fileName: string): Mapping[] {
  return maps.filter(
    (m) =>
      (m.path === fileName || m.path.endsWith(`/${fileName}`)) &&
      !m.perms.includes('w') &&
      m.anonymousKiB === 0 &&
      m.rssKiB > 0,
  );
}

export interface Released {
  readonly mappings: number;
  /** What those mappings held resident before, in MiB. */
  readonly residentMiB: number;
}

type Madvise = (start: number, length: number, advice: number) => number;

let bound: Promise<{ madvise: Madvise; errno: () => number }> | undefined;

/**
 * libc's madvise through koffi (a maintained FFI with prebuilt binaries): Node has no binding. Bound
 * once per process; every embedded client's open uses it.
 */
function loadMadvise(): Promise<{ madvise: Madvise; errno: () => number }> {
  bound ??= import('koffi').then(({ default: koffi }) => {
    const libc = koffi.load('libc.so.6');
    const madvise = libc.func('int madvise(uintptr_t addr, size_t len, int advice)') as Madvise;
    return { madvise, errno: () => koffi.errno() };
  });
  return bound;
}

/**
 * Gives back the resident pages of a loaded library's file (chDB's `libchdb.so`) that its load and
 * start touched, so that what stays resident is what the process uses.
 *
 * `libchdb.so` is a 566 MB file with about 2,600 static initialisers spread over its code. Once
 * the engine has started, about 160 MiB of it is resident. Of those, a pipeline at 50% load
 * touched 15-20 MiB in 15 s (`Referenced` in smaps after `/proc/self/clear_refs`). The kernel
 * drops such pages only under memory pressure; until then they count in the resident memory and in
 * a container's working set. `MADV_PAGEOUT` reclaims them at once, and any the engine uses later
 * come back from the file on their first touch. The advice never changes what a page holds, and
 * only mappings whose pages all come from the file are advised (see `fileBackedMappings`).
 *
 * Linux only; resolves undefined, and logs why at debug level, where it cannot be done.
 */
export async function releaseLibraryPages(fileName: string, logger: Logger): Promise<Released | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const { madvise, errno } = await loadMadvise();
    const maps = fileBackedMappings(parseSmaps(await readFile('/proc/self/smaps', 'utf8')), fileName);
    let released = 0;
    let kib = 0;
    for (const m of maps) {
      if (madvise(m.start, m.end - m.start, MADV_PAGEOUT) !== 0) {
        // EINVAL: a kernel before 5.4. Nothing was changed, so the pages stay as they were.
        logger.debug({ file: fileName, errno: errno() }, 'storage: madvise(MADV_PAGEOUT) refused');
        continue;
      }
      released++;
      kib += m.rssKiB;
    }
    return { mappings: released, residentMiB: kib / 1024 };
  } catch (err) {
    logger.debug({ file: fileName, err: (err as Error).message }, 'storage: library pages not released');
    return undefined;
  }
}
