import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeValue } from './describe.js';
import { ConfigError, errorMessage } from './errors.js';

/** What SASL/OAUTHBEARER needs to get access tokens by the OAuth 2.0 client-credentials grant. */
export interface OAuthClientConfig {
  readonly tokenEndpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** space-separated scopes asked for; none: the endpoint's default */
  readonly scope?: string | undefined;
  /** SASL extensions sent beside the token (Confluent Cloud: logicalCluster, identityPoolId) */
  readonly extensions?: Readonly<Record<string, string>> | undefined;
  /** client_secret_basic (HTTP Basic, the default) or client_secret_post (in the form body) */
  readonly clientAuth?: 'basic' | 'post' | undefined;
}

/** A token as kafkajs' oauthBearerProvider returns it. */
export interface OAuthBearerToken {
  readonly value: string;
  readonly extensions?: Record<string, string>;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** RFC 6749 2.3.1: id and secret are form-encoded before they are joined for HTTP Basic. */
const formEncode = (s: string) => new URLSearchParams({ s }).toString().slice(2);

/** Seconds until the token expires: the response's expires_in, else a JWT's exp claim. */
function lifetimeSeconds(body: { expires_in?: unknown }, token: string, nowMs: number): number | undefined {
  const expiresIn = Number(body.expires_in);
  if (Number.isFinite(expiresIn) && expiresIn > 0) return expiresIn;
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp - nowMs / 1000 : undefined;
  } catch {
    return undefined; // an opaque token
  }
}

/** A token as a source got it: the token, and its lifetime in seconds from when it was asked for. */
interface Fetched {
  readonly value: string;
  readonly lifetime: number | undefined;
}

/**
 * kafkajs' `oauthBearerProvider` over a token source: hands the same token to every connection until
 * it nears its end. A token is renewed once less than a fifth of its lifetime or 30 s is left,
 * whichever is more, so kafkajs, which authenticates again about 10 s before the broker ends a
 * session (the token's lifetime), always gets one with time left. Calls while a fetch is under way
 * share it. A token whose lifetime is unknown is fetched every time.
 */
function cachingProvider(
  fetchToken: () => Promise<Fetched>,
  extensions: Readonly<Record<string, string>> | undefined,
  now: () => number,
): () => Promise<OAuthBearerToken> {
  let cached: { token: OAuthBearerToken; renewAt: number } | undefined;
  let pending: Promise<OAuthBearerToken> | undefined;
  async function renew(): Promise<OAuthBearerToken> {
    const started = now();
    const { value, lifetime } = await fetchToken();
    const token: OAuthBearerToken = { value, ...(extensions ? { extensions: { ...extensions } } : {}) };
    cached =
      lifetime === undefined
        ? undefined
        : { token, renewAt: started + (lifetime - Math.max(lifetime / 5, 30)) * 1000 };
    return token;
  }
  return () => {
    if (cached && now() < cached.renewAt) return Promise.resolve(cached.token);
    pending ??= renew().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

/**
 * Tokens from an OAuth 2.0 token endpoint by the client-credentials grant, renewed as
 * `cachingProvider` says. Failures name the endpoint and carry its answer (OAuth error responses say
 * what is wrong).
 */
export function oauthBearerProvider(
  config: OAuthClientConfig,
  now: () => number = Date.now,
): () => Promise<OAuthBearerToken> {
  return cachingProvider(() => fromEndpoint(config, now), config.extensions, now);
}

async function fromEndpoint(config: OAuthClientConfig, now: () => number): Promise<Fetched> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (config.scope) form.set('scope', config.scope);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (config.clientAuth === 'post') {
    form.set('client_id', config.clientId);
    form.set('client_secret', config.clientSecret);
  } else {
    const basic = `${formEncode(config.clientId)}:${formEncode(config.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
  }
  const where = `the OAuth token endpoint ${config.tokenEndpoint}`;
  const started = now();
  let response: Response;
  try {
    response = await fetch(config.tokenEndpoint, {
      method: 'POST',
      headers,
      body: form,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`kafka.sasl: cannot reach ${where}: ${cause ?? (err as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`kafka.sasl: ${where} answered ${response.status}: ${text.slice(0, 300)}`);
  }
  let body: { access_token?: unknown; expires_in?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`kafka.sasl: ${where} answered with something other than JSON: ${text.slice(0, 200)}`);
  }
  if (typeof body.access_token !== 'string' || body.access_token === '') {
    throw new Error(`kafka.sasl: ${where} answered without an access_token: ${text.slice(0, 200)}`);
  }
  return { value: body.access_token, lifetime: lifetimeSeconds(body, body.access_token, started) };
}

/** What a token module's function gives: the token, and when it expires (ms since the epoch). */
export interface ModuleToken {
  readonly token: string;
  readonly expiryTime?: number;
}

/**
 * Loads a token module (`kafka.sasl.tokenModule`, relative to the pipeline file): its default export
 * is a function returning, or resolving to, `{ token, expiryTime? }`, the shape AWS's
 * aws-msk-iam-sasl-signer-js `generateAuthToken` gives for MSK IAM. A module that cannot be loaded,
 * or exports no function, is a ConfigError naming the key.
 */
export async function loadTokenModule(path: string, baseDir: string): Promise<() => unknown> {
  const key = 'kafka.sasl.tokenModule';
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(resolve(baseDir, path)).href)) as { default?: unknown };
  } catch (err) {
    throw new ConfigError([`${key}: cannot load ${path}: ${errorMessage(err).split('\n')[0]}`]);
  }
  if (typeof mod.default !== 'function') {
    throw new ConfigError([`${key}: ${path} must export a function as its default export`]);
  }
  return mod.default as () => unknown;
}

/** Tokens from a token module's function, renewed as `cachingProvider` says. */
export function moduleTokenProvider(
  path: string,
  baseDir: string,
  extensions?: Readonly<Record<string, string>>,
  now: () => number = Date.now,
): () => Promise<OAuthBearerToken> {
  let fn: Promise<() => unknown> | undefined;
  return cachingProvider(
    async () => {
      fn ??= loadTokenModule(path, baseDir);
      const started = now();
      let out: unknown;
      try {
        out = await (await fn)();
      } catch (err) {
        throw new Error(`kafka.sasl.tokenModule ${path} threw: ${errorMessage(err)}`);
      }
      const { token, expiryTime } = (out ?? {}) as Partial<ModuleToken>;
      if (typeof token !== 'string' || token === '') {
        throw new Error(
          `kafka.sasl.tokenModule ${path} returned ${describeValue(out)}, expected { token, expiryTime? }`,
        );
      }
      const lifetime = typeof expiryTime === 'number' ? (expiryTime - started) / 1000 : undefined;
      return { value: token, lifetime };
    },
    extensions,
    now,
  );
}
