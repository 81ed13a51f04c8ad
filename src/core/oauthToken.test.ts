import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadTokenModule, moduleTokenProvider, oauthBearerProvider } from './oauthToken.js';

// The provider's own bookkeeping (when to renew, sharing a fetch, reading answers) against a local
// endpoint that answers what each case needs. Its work with a real OAuth server and a real broker is
// in test/kafkaSecurity.test.ts.

interface Seen {
  readonly authorization: string | undefined;
  readonly form: URLSearchParams;
}

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function endpoint(answer: (n: number) => { status?: number; body: string }) {
  const seen: Seen[] = [];
  server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ authorization: req.headers.authorization, form: new URLSearchParams(body) });
      const a = answer(seen.length);
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return { url, seen };
}

const token = (n: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ access_token: `t${n}`, token_type: 'Bearer', ...extra });

describe('oauthBearerProvider', () => {
  it('keeps a token until a fifth of its life (at least 30 s) is left, and shares a fetch under way', async () => {
    const { url, seen } = await endpoint((n) => ({ body: token(n, { expires_in: 300 }) }));
    let clock = 1_000_000;
    const provider = oauthBearerProvider(
      { tokenEndpoint: url, clientId: 'svc', clientSecret: 's', scope: 'kafka write' },
      () => clock,
    );
    const [a, b] = await Promise.all([provider(), provider()]);
    expect([a.value, b.value, seen.length]).toEqual(['t1', 't1', 1]);
    clock += 239_000;
    expect((await provider()).value).toBe('t1');
    clock += 1_000; // 60 s left of 300
    expect((await provider()).value).toBe('t2');
    expect(seen[0]!.form.get('grant_type')).toBe('client_credentials');
    expect(seen[0]!.form.get('scope')).toBe('kafka write');
  });

  it("reads a JWT's exp when expires_in is missing, and fetches an opaque token every time", async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const jwt = `h.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.s`;
    const jwts = await endpoint(() => ({ body: JSON.stringify({ access_token: jwt }) }));
    const p = oauthBearerProvider({ tokenEndpoint: jwts.url, clientId: 'svc', clientSecret: 's' });
    await p();
    await p();
    expect(jwts.seen.length).toBe(1);
    await new Promise<void>((r) => server!.close(() => r()));
    const opaque = await endpoint((n) => ({ body: token(n) }));
    const q = oauthBearerProvider({ tokenEndpoint: opaque.url, clientId: 'svc', clientSecret: 's' });
    expect([(await q()).value, (await q()).value]).toEqual(['t1', 't2']);
  });

  it('sends the client as HTTP Basic (form-encoded first) or in the form, and the extensions with the token', async () => {
    const { url, seen } = await endpoint((n) => ({ body: token(n) }));
    const basic = oauthBearerProvider({
      tokenEndpoint: url,
      clientId: 'svc:1',
      clientSecret: 'a b&c',
      extensions: { logicalCluster: 'lkc-1' },
    });
    expect(await basic()).toEqual({ value: 't1', extensions: { logicalCluster: 'lkc-1' } });
    const decoded = Buffer.from(seen[0]!.authorization!.replace(/^Basic /, ''), 'base64').toString();
    expect(decoded).toBe('svc%3A1:a+b%26c');
    await oauthBearerProvider({
      tokenEndpoint: url,
      clientId: 'svc',
      clientSecret: 's',
      clientAuth: 'post',
    })();
    expect([
      seen[1]!.authorization,
      seen[1]!.form.get('client_id'),
      seen[1]!.form.get('client_secret'),
    ]).toEqual([undefined, 'svc', 's']);
  });

  it('says what the endpoint answered when there is no token in it, and fetches again after a failure', async () => {
    const answers = [
      { status: 401, body: '{"error":"invalid_client"}' },
      { body: '<html>sign in</html>' },
      { body: '{"token_type":"Bearer"}' },
      { body: token(4) },
    ];
    const { url } = await endpoint((n) => answers[n - 1]!);
    const p = oauthBearerProvider({ tokenEndpoint: url, clientId: 'svc', clientSecret: 's' });
    await expect(p()).rejects.toThrow(
      `kafka.sasl: the OAuth token endpoint ${url} answered 401: {"error":"invalid_client"}`,
    );
    await expect(p()).rejects.toThrow(/answered with something other than JSON: <html>sign in/);
    await expect(p()).rejects.toThrow(/answered without an access_token: \{"token_type":"Bearer"\}/);
    expect((await p()).value).toBe('t4');
  });
});

describe('moduleTokenProvider', () => {
  const dir = mkdtempSync(join(tmpdir(), 'token-module-'));
  const module = (name: string, body: string) => (writeFileSync(join(dir, name), body), name);

  it("keeps the module's token until near its expiryTime, as aws-msk-iam-sasl-signer-js gives it", async () => {
    const name = module(
      'counting.mjs',
      'let n = 0; export default async () => ({ token: `t${++n}`, expiryTime: globalThis.expiry });',
    );
    let clock = 1_000_000;
    (globalThis as { expiry?: number }).expiry = clock + 900_000; // 15 minutes, as MSK IAM tokens
    const provider = moduleTokenProvider(name, dir, { logicalCluster: 'c' }, () => clock);
    expect(await provider()).toEqual({ value: 't1', extensions: { logicalCluster: 'c' } });
    clock += 700_000;
    expect((await provider()).value).toBe('t1');
    clock += 30_000; // 170 s left: less than a fifth of 900 s
    expect((await provider()).value).toBe('t2');
  });

  it('names the module when it throws or gives no token, and when it cannot be loaded', async () => {
    const thrower = moduleTokenProvider(
      module('throws.mjs', 'export default () => { throw new Error("no credentials"); };'),
      dir,
    );
    await expect(thrower()).rejects.toThrow('kafka.sasl.tokenModule throws.mjs threw: no credentials');
    const empty = moduleTokenProvider(module('empty.mjs', 'export default () => ({ expiryTime: 1 });'), dir);
    await expect(empty()).rejects.toThrow(
      /kafka\.sasl\.tokenModule empty\.mjs returned .*expected \{ token, expiryTime\? \}/,
    );
    await expect(loadTokenModule('missing.mjs', dir)).rejects.toThrow(
      /kafka\.sasl\.tokenModule: cannot load missing\.mjs/,
    );
    await expect(
      loadTokenModule(module('named.mjs', 'export const token = () => "x";'), dir),
    ).rejects.toThrow('kafka.sasl.tokenModule: named.mjs must export a function as its default export');
  });
});
