import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, errorMessage } from './errors.js';

/**
 * Reads files named in the config (paths relative to `baseDir`, the pipeline file's folder); every
 * one that cannot be read is reported at once, each naming its key and path.
 */
export function readConfigFiles(
  baseDir: string,
  files: readonly (readonly [key: string, path: string | undefined])[],
): (Buffer | undefined)[] {
  const problems: string[] = [];
  const out = files.map(([key, path]) => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(resolve(baseDir, path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(
        `${key}: cannot read ${path}: ${code === 'ENOENT' ? 'file not found' : String(code ?? err)}`,
      );
      return undefined;
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/** PEM files for TLS as read from the config, each with the config key that named it. */
export interface TlsFiles {
  readonly ca?: readonly [key: string, pem: Buffer] | undefined;
  readonly cert?: readonly [key: string, pem: Buffer] | undefined;
  readonly key?: readonly [key: string, pem: Buffer] | undefined;
  /** The key's passphrase, and the config key that takes it (none: only unencrypted keys are taken). */
  readonly passphrase?: readonly [key: string, passphrase: string | undefined] | undefined;
}

/**
 * Checks TLS files before anything connects: the CA and the certificate parse, the private key
 * decrypts with the passphrase, and the certificate is the key's. Left to the TLS handshake, each of
 * these mistakes is a retried "Failed to connect: bad decrypt" or "key values mismatch" that names
 * no key. Every problem found is reported at once as a ConfigError naming its key. Returns the
 * private key, decrypted.
 */
export function checkTlsFiles(files: TlsFiles): { key?: KeyObject } {
  const problems: string[] = [];
  const certificate = (entry: readonly [string, Buffer]) => {
    try {
      return new X509Certificate(entry[1]);
    } catch (err) {
      problems.push(`${entry[0]}: not a PEM certificate (${errorMessage(err)})`);
      return undefined;
    }
  };
  if (files.ca) certificate(files.ca);
  const cert = files.cert && certificate(files.cert);
  let key: KeyObject | undefined;
  if (files.key) {
    const [name, pem] = files.key;
    const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(
      pem.toString('latin1'),
    );
    const [passphraseKey, passphrase] = files.passphrase ?? [];
    if (encrypted && passphrase === undefined) {
      problems.push(
        passphraseKey
          ? `${name}: the key is encrypted; set ${passphraseKey}`
          : `${name}: the key is encrypted; give it unencrypted (there is no passphrase setting here)`,
      );
    } else {
      try {
        key = createPrivateKey({ key: pem, ...(passphrase !== undefined ? { passphrase } : {}) });
      } catch (err) {
        problems.push(
          encrypted
            ? `${passphraseKey}: does not decrypt ${name} (${errorMessage(err)})`
            : `${name}: not a PEM private key (${errorMessage(err)})`,
        );
      }
    }
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    problems.push(`${files.cert![0]}: is not the certificate of ${files.key![0]} (its key does not match)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return key ? { key } : {};
}
