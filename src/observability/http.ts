/**
 * The operations endpoint on 127.0.0.1:HTTP_PORT (off when HTTP_PORT is unset):
 *
 *   GET /healthz   200 {"ok":true,...} or 503 {"ok":false,"reasons":[...],...}
 *   GET /metrics   Prometheus text format (src/observability/metrics.ts)
 *
 * Loopback only: put a reverse proxy or the Prometheus agent on the same machine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { checkHealth, type GatewayLike, type HealthSources } from './health.ts';
import { MetricsCollector, type MetricsSources } from './metrics.ts';

export interface OpsServerOptions extends MetricsSources {
  client: GatewayLike;
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  logger?: Logger;
  disk?: HealthSources['disk'];
}

export interface OpsServer {
  readonly port: number;
  readonly url: string;
  readonly collector: MetricsCollector;
  close(): Promise<void>;
}

/** Starts listening (and collecting step times from the scheduler's events). Rejects when the port is taken. */
export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const host = opts.host ?? '127.0.0.1';
  const collector = new MetricsCollector(opts);
  const log = opts.logger;
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const fail = (err: unknown): void => {
      log?.error({ err: err instanceof Error ? err.message : String(err), path: url }, 'ops endpoint failed');
      send(500, 'text/plain; charset=utf-8', 'internal error\n');
    };
    try {
      if (url === '/healthz') {
        const report = checkHealth(opts);
        if (!report.ok) log?.debug({ reasons: report.reasons }, 'healthz: unhealthy');
        return send(report.ok ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(report) + '\n');
      }
      if (url === '/metrics') return void collector.render().then((text) => send(200, collector.contentType, text), fail);
      return send(404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n');
    } catch (err) {
      fail(err);
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `HTTP_PORT ${opts.port} is already in use on ${host}: pick another port or unset HTTP_PORT`
            : `could not serve /healthz and /metrics on ${host}:${opts.port}: ${err.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log?.error({ err: err.message }, 'ops endpoint error'));
  collector.attach();
  const port = (server.address() as AddressInfo).port;
  log?.info({ url: `http://${host}:${port}` }, 'serving /healthz and /metrics');
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host}:${port}`,
    collector,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        collector.detach();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
