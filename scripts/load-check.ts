/**
 * Load check for the job layer: U users × J jobs queued at once, run to the end; prints JSON.
 *
 *   node --import tsx scripts/load-check.ts [--users 50] [--jobs 4] [--guilds 5] [--devices cpu[,cpu:1]]
 *        [--steps 30] [--step-ms 1] [--work-iters 200] [--checkpoint-every 5] [--size 256] [--cutn 32]
 *        [--runner deterministic | <module path>] [--data DIR] [--keep]
 *        [--redis [--workers 2]]
 *
 * --redis: distributed mode. Starts a private redis-server (needs Debian's redis-server) and `--workers`
 *   worker processes (one deterministic device each); this process is the front (scheduler + the
 *   `cluster` device), so the same fairness rule releases jobs to the BullMQ queue one per free worker.
 *   Its --step-ms defaults to 10 (jobs of ~0.4 s): each job crosses processes and Redis about ten times
 *   (release, pick-up, progress, result), a fixed 20-60 ms on a busy machine that 0.14 s jobs cannot hide
 *   (with --step-ms 1 the worst first-job wait is 1.1-1.6x the ideal; real jobs last minutes).
 *
 * --runner: `deterministic` (default; test/jobs/deterministic-runner.ts) or the path of a module exporting
 *   `createRunner(device: string, options: Record<string, unknown>): JobRunner | Promise<JobRunner>`
 *   (the engine's worker pool plugs in here).
 *
 * Jobs are submitted user by user (u0's 4 jobs, then u1's, ...), the worst case for a FIFO queue.
 * Fairness figure: the maximum wait of any user's first job, relative to the ideal schedule in which every
 * user's first job starts before anyone's second: ideal = floor((users-1)/devices) × mean job time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DeterministicRunner } from '../test/jobs/deterministic-runner.ts';
import { Scheduler } from '../src/jobs/scheduler.ts';
import { JobStore } from '../src/jobs/store.ts';
import type { JobRunner } from '../src/jobs/types.ts';
import { attachCluster, ClusterRunner } from '../src/jobs/redis/cluster-runner.ts';
import { TestRedis } from '../test/jobs/redis/redis-server.ts';
import { startWorker, type WorkerProc } from '../test/jobs/redis/cluster-helpers.ts';

const { values: a } = parseArgs({
  options: {
    users: { type: 'string', default: '50' },
    jobs: { type: 'string', default: '4' },
    guilds: { type: 'string', default: '5' },
    devices: { type: 'string', default: 'cpu' },
    steps: { type: 'string', default: '30' },
    'step-ms': { type: 'string' },
    'work-iters': { type: 'string', default: '200' },
    'checkpoint-every': { type: 'string', default: '5' },
    size: { type: 'string', default: '256' },
    cutn: { type: 'string', default: '32' },
    runner: { type: 'string', default: 'deterministic' },
    data: { type: 'string' },
    keep: { type: 'boolean', default: false },
    redis: { type: 'boolean', default: false },
    workers: { type: 'string', default: '2' },
  },
});
const users = Number(a.users);
const jobsPerUser = Number(a.jobs);
const guilds = Math.max(1, Number(a.guilds));
const devices = a.redis ? Array.from({ length: Number(a.workers) }, (_, i) => `w${i + 1}/cpu`) : a.devices!.split(',').map((d) => d.trim()).filter(Boolean);
const steps = Number(a.steps);
a['step-ms'] ??= a.redis ? '10' : '1';

async function makeRunner(device: string): Promise<JobRunner> {
  const options = { stepDelayMs: Number(a['step-ms']), workIters: Number(a['work-iters']), checkpointEvery: Number(a['checkpoint-every']) };
  if (a.runner === 'deterministic') return new DeterministicRunner({ device, ...options });
  const mod = (await import(pathToFileURL(path.resolve(a.runner!)).href)) as { createRunner?: (d: string, o: Record<string, unknown>) => JobRunner | Promise<JobRunner> };
  if (typeof mod.createRunner !== 'function') throw new Error(`${a.runner} does not export createRunner(device, options)`);
  return mod.createRunner(device, options);
}

const dataDir = a.data ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-load-'));
let peakRss = process.memoryUsage().rss;
const startRss = peakRss;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

const store = new JobStore({ dataDir });
const cluster = a.redis ? await startCluster() : undefined;
const scheduler = new Scheduler({
  store,
  runners: cluster ? [cluster.runner] : await Promise.all(devices.map(makeRunner)),
  limits: { perUserCap: jobsPerUser, globalQueueCap: users * jobsPerUser },
});
if (cluster) {
  await attachCluster(scheduler, cluster.runner);
  const until = Date.now() + 30_000;
  while (cluster.runner.capacity < devices.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}
scheduler.recover();

async function startCluster(): Promise<{ runner: ClusterRunner; redis: TestRedis; workers: WorkerProc[] }> {
  const redis = await TestRedis.start();
  const env = { QUIET: '1', STEP_MS: String(a['step-ms']), WORK_ITERS: String(a['work-iters']), CHECKPOINT_EVERY: String(a['checkpoint-every']) };
  const workers = devices.map((d) => startWorker(redis.url, d.split('/')[0]!, env));
  await Promise.all(workers.map((w) => w.ready));
  return { runner: new ClusterRunner({ redisUrl: redis.url, pollMs: 200 }), redis, workers };
}

const t = new Map<string, { user: string; n: number; submit: number; start?: number; done?: number }>();
const startOrder: string[] = [];
let failed = 0;
let positionEvents = 0;
scheduler.on('started', (e) => {
  t.get(e.job.id)!.start = performance.now();
  startOrder.push(e.job.id);
});
scheduler.on('done', (e) => (t.get(e.job.id)!.done = performance.now()));
scheduler.on('failed', (e) => {
  failed++;
  console.error(`job ${e.job.id} (${e.job.userId}) failed: ${e.error}`);
});
scheduler.on('position', () => positionEvents++);

const t0 = performance.now();
for (let u = 0; u < users; u++)
  for (let n = 0; n < jobsPerUser; n++) {
    const userId = `u${u}`;
    const guildId = `g${u % guilds}`;
    const size = Number(a.size);
    const q = scheduler.submit({
      userId,
      guildId,
      discord: { guildId, channelId: 'load' },
      request: { prompt: `load ${u}/${n}`, steps, width: size, height: size, cutn: Number(a.cutn), seed: u * 100 + n },
    });
    t.set(q.job.id, { user: userId, n, submit: performance.now() });
  }
const submitMs = performance.now() - t0;
await scheduler.whenIdle();
const wallSec = (performance.now() - t0) / 1000;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);

const rows = [...t.values()];
const finished = rows.filter((r) => r.done !== undefined);
const meanJobSec = finished.reduce((s, r) => s + (r.done! - r.start!), 0) / Math.max(1, finished.length) / 1000;
const firstJobs = rows.filter((r) => r.n === 0);
const maxFirstWaitSec = Math.max(...firstJobs.map((r) => (r.start! - r.submit) / 1000));
const idealMaxFirstWaitSec = Math.floor((users - 1) / devices.length) * meanJobSec;
const fifoMaxFirstWaitSec = Math.floor(((users - 1) * jobsPerUser) / devices.length) * meanJobSec;
const idIndex = new Map(startOrder.map((id, i) => [id, i]));
const firstStartIndex = Math.max(...[...t.entries()].filter(([, r]) => r.n === 0).map(([id]) => idIndex.get(id)!));
const stats = scheduler.devicesStatus();
await scheduler.shutdown();
if (cluster) {
  for (const w of cluster.workers) w.proc.kill('SIGTERM');
  await Promise.all(cluster.workers.map((w) => w.exited));
  await cluster.redis.stop();
}
if (!a.keep && !a.data) fs.rmSync(dataDir, { recursive: true, force: true });

const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
console.log(
  JSON.stringify(
    {
      runner: a.runner,
      mode: a.redis ? 'redis (BullMQ, worker processes)' : 'embedded',
      devices,
      users,
      jobsPerUser,
      guilds,
      stepsPerJob: steps,
      stepMs: Number(a['step-ms']),
      jobs: rows.length,
      allFinished: finished.length === rows.length && failed === 0,
      finished: finished.length,
      failed,
      wallSec: +wallSec.toFixed(2),
      submitAllMs: +submitMs.toFixed(1),
      meanJobSec: +meanJobSec.toFixed(4),
      fairness: {
        maxFirstJobWaitSec: +maxFirstWaitSec.toFixed(3),
        idealMaxFirstJobWaitSec: +idealMaxFirstWaitSec.toFixed(3),
        ratioToIdeal: +(maxFirstWaitSec / Math.max(idealMaxFirstWaitSec, 1e-9)).toFixed(3),
        fifoWouldBeSec: +fifoMaxFirstWaitSec.toFixed(3),
        lastFirstJobStartIndex: firstStartIndex,
        idealLastFirstJobStartIndex: users - 1,
      },
      positionEvents,
      calibratedSecPerUnitStep: Object.fromEntries(stats.map((s) => [s.device, s.secPerUnitStep])),
      memory: { startRssMiB: mib(startRss), peakRssMiB: mib(peakRss), endRssMiB: mib(process.memoryUsage().rss), heapUsedMiB: mib(process.memoryUsage().heapUsed) },
    },
    null,
    2,
  ),
);
