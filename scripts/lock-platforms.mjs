#!/usr/bin/env node
// Records chDB's per-platform optional packages in package-lock.json.
//
// Why: the registry these machines reach serves only the package for this platform
// (@chdb/lib-linux-x64-gnu); the others answer 404, so `npm install` leaves them out of the lock and
// `npm ci` then refuses the lock ("Missing: @chdb/lib-darwin-arm64@ from lock file"). A lock made
// against the public registry lists them as optional entries with their os/cpu, which npm skips on
// other platforms. Run after `npm install` changes the lock: `npm run lock:platforms`.
import { readFileSync, writeFileSync } from 'node:fs';

const LOCK = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(LOCK, 'utf8'));
const chdb = lock.packages['node_modules/chdb'];
if (!chdb) throw new Error('chdb is not in package-lock.json');

const PLATFORMS = {
  '@chdb/lib-darwin-arm64': { os: ['darwin'], cpu: ['arm64'] },
  '@chdb/lib-darwin-x64': { os: ['darwin'], cpu: ['x64'] },
  '@chdb/lib-linux-arm64-gnu': { os: ['linux'], cpu: ['arm64'], libc: ['glibc'] },
  '@chdb/lib-linux-x64-gnu': { os: ['linux'], cpu: ['x64'], libc: ['glibc'] },
};

let added = 0;
for (const [name, version] of Object.entries(chdb.optionalDependencies ?? {})) {
  const key = `node_modules/${name}`;
  if (lock.packages[key]) continue;
  const platform = PLATFORMS[name];
  if (!platform) throw new Error(`unknown chdb platform package ${name}: add its os/cpu to ${LOCK.pathname}`);
  lock.packages[key] = { version, optional: true, ...platform };
  added++;
}
// Keep the keys sorted as npm writes them.
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-platforms: ${added} chdb platform entr${added === 1 ? 'y' : 'ies'} added`);
