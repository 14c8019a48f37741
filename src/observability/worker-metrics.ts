/**
 * /metrics (and /healthz) of a worker process (`npm run worker`, METRICS_PORT or HTTP_PORT), on
 * 127.0.0.1 like the front's: steps done, step time and state of each device, jobs done and failed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ClusterWorker } from '../jobs/redis/worker.ts';

const STATES = ['starting', 'ready', 'restarting', 'failed', 'closed', 'closing'] as const;

export function workerRegistry(worker: ClusterWorker): Registry {
  const reg = new Registry();
  reg.setDefaultLabels({ worker: worker.id });
  const counted = (name: string, help: string, read: () => Record<string, number>): void => {
    const seen: Record<string, number> = {};
    new Counter({
      name,
      help,
      labelNames: ['device'],
      registers: [reg],
      collect() {
        for (const [device, v] of Object.entries(read())) {
          const d = v - (seen[device] ?? 0);
          if (d > 0) this.inc({ device }, d);
          seen[device] = v;
        }
      },
    });
  };
  counted('reverie_worker_steps_total', 'Optimisation steps done on this device', () => worker.stats.steps);
  counted('reverie_worker_jobs_done_total', 'Jobs finished on this device', () => worker.stats.jobsDone);
  counted('reverie_worker_jobs_failed_total', 'Jobs that failed on this device', () => worker.stats.jobsFailed);
  new Gauge({
    name: 'reverie_worker_seconds_per_step',
    help: 'Last measured seconds per step on this device',
    labelNames: ['device'],
    registers: [reg],
    collect() {
      for (const [device, v] of Object.entries(worker.stats.secPerStep)) this.set({ device }, v);
    },
  });
  new Gauge({
    name: 'reverie_worker_device_state',
    help: '1 for the state each device is in (paused: state="paused")',
    labelNames: ['device', 'state'],
    registers: [reg],
    collect() {
      this.reset();
      for (const d of worker.info().devices) {
        for (const s of STATES) this.set({ device: d.device, state: s }, d.state === s ? 1 : 0);
        this.set({ device: d.device, state: 'paused' }, d.paused ? 1 : 0);
        this.set({ device: d.device, state: 'busy' }, d.jobId ? 1 : 0);
      }
    },
  });
  return reg;
}

export async function startWorkerMetrics(worker: ClusterWorker, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const reg = workerRegistry(worker);
  const server = http.createServer((req, res) => {
    if (req.url === '/metrics') {
      void reg.metrics().then((text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text));
    } else if (req.url === '/healthz') {
      const info = worker.info();
      const ok = info.devices.some((d) => d.state === 'ready');
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, ...info }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((res) => server.close(() => res())) };
}
