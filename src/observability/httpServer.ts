import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Health, Lifecycle, Logger } from '../core/index.js';

export interface ObservabilityConfig {
  readonly host: string;
  /** 0 picks a free port (see `port()`). */
  readonly port: number;
}

export interface ObservabilityServer extends Lifecycle {
  /** The bound port, once started. */
  port(): number | undefined;
}

/** Prometheus text at /metrics, and /health/live and /health/ready as JSON with 200 or 503. */
export function createObservabilityServer(
  config: ObservabilityConfig,
  deps: { registry: Registry; health: () => Health; logger: Logger },
): ObservabilityServer {
  let server: Server | undefined;

  const handle = async (path: string): Promise<{ status: number; type: string; body: string }> => {
    if (path === '/metrics') {
      return { status: 200, type: deps.registry.contentType, body: await deps.registry.metrics() };
    }
    if (path === '/health/live' || path === '/health/ready') {
      const h = deps.health();
      const ok = path === '/health/live' ? h.live : h.ready;
      return { status: ok ? 200 : 503, type: 'application/json', body: JSON.stringify({ ok, ...h }) };
    }
    return {
      status: 404,
      type: 'text/plain',
      body: 'not found: try /metrics, /health/live, /health/ready\n',
    };
  };

  return {
    port: () => (server?.address() as AddressInfo | null)?.port,

    async start() {
      server = createServer((req, res) => {
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        handle(path).then(
          (r) => res.writeHead(r.status, { 'content-type': r.type }).end(r.body),
          (err) => res.writeHead(500).end(String(err)),
        );
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, config.host, () => resolve());
      });
      deps.logger.info(
        { host: config.host, port: (server.address() as AddressInfo).port },
        'observability endpoints up',
      );
    },

    async stop() {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server?.closeAllConnections();
      server = undefined;
    },

    health: () => ({ live: true, ready: server !== undefined }),
  };
}
