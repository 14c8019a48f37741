/** The distributed-mode test rig: a front (scheduler + ClusterRunner, in this process) and worker processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Scheduler } from '../../../src/jobs/scheduler.ts';
import { JobStore } from '../../../src/jobs/store.ts';
import { attachCluster, ClusterRunner } from '../../../src/jobs/redis/cluster-runner.ts';
import type { JobRecord, SchedulerEventMap } from '../../../src/jobs/types.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

export interface Front {
  store: JobStore;
  scheduler: Scheduler;
  cluster: ClusterRunner;
  events: { name: keyof SchedulerEventMap; job: JobRecord; payload: unknown }[];
  stop(): Promise<void>;
}

export async function startFront(redisUrl: string, dataDir: string, opts: { perUserCap?: number; maxInterruptions?: number } = {}): Promise<Front> {
  const store = new JobStore({ dataDir });
  const cluster = new ClusterRunner({ redisUrl, pollMs: 200, ...(opts.maxInterruptions !== undefined ? { maxInterruptions: opts.maxInterruptions } : {}) });
  const scheduler = new Scheduler({ store, runners: [cluster], limits: { perUserCap: opts.perUserCap ?? 10, globalQueueCap: 1000 } });
  const events: Front['events'] = [];
  for (const name of ['queued', 'started', 'progress', 'snapshot', 'done', 'failed', 'cancelled'] as const)
    scheduler.on(name, (e: { job: JobRecord }) => events.push({ name, job: e.job, payload: e }));
  await attachCluster(scheduler, cluster);
  scheduler.recover();
  return { store, scheduler, cluster, events, stop: () => scheduler.shutdown() };
}

export interface WorkerProc {
  id: string;
  proc: ChildProcess;
  steps: Map<string, number>; // job → last step printed
  metricsPort?: number;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

export function startWorker(redisUrl: string, id: string, env: Record<string, string> = {}): WorkerProc {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'worker-proc.ts')], {
    cwd: root,
    env: { ...process.env, REDIS_URL: redisUrl, WORKER_ID: id, DEVICES: 'cpu', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const steps = new Map<string, number>();
  let readyRes!: () => void;
  const ready = new Promise<void>((r) => (readyRes = r));
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'READY') readyRes();
      if (line.startsWith('METRICS ')) w.metricsPort = Number(line.slice(8));
      const m = /^STEP (\S+) (\d+)$/.exec(line);
      if (m) steps.set(m[1]!, Number(m[2]));
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const w: WorkerProc = { id, proc, steps, ready, exited };
  return w;
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const t = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > t) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
