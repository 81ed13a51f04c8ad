import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const KEY_PASSPHRASE = 'megaservice-key-passphrase';

/**
 * The services' test client key (`client.key` in `tlsDir`), written into `dir` encrypted (PKCS#8,
 * AES-256) under KEY_PASSPHRASE, as a key kept encrypted on disk is; returns its path.
 */
export function encryptedClientKey(tlsDir: string, dir: string): string {
  const path = join(dir, 'client-encrypted.key');
  const pem = createPrivateKey(readFileSync(join(tlsDir, 'client.key'))).export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: KEY_PASSPHRASE,
  });
  writeFileSync(path, pem);
  return path;
}
