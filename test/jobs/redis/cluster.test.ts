/**
 * Distributed mode against a real redis-server (started here on a free loopback port, AOF on): a front
 * (this process) and worker processes running the deterministic runner. Skips with a printed reason only
 * when redis-server is missing and CI is unset.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { DeterministicRunner } from '../deterministic-runner.ts';
import { newJob, tmpDir } from '../helpers.ts';
import { redisServerPath, TestRedis } from './redis-server.ts';
import { startFront, startWorker, until, type Front, type WorkerProc } from './cluster-helpers.ts';
import { keys, MAX_INTERRUPTIONS_MESSAGE, unpackCheckpoint } from '../../../src/jobs/redis/protocol.ts';
import { migrateToRedis } from '../../../src/jobs/redis/migrate.ts';
import { JobStore } from '../../../src/jobs/store.ts';
import type { JobRecord } from '../../../src/jobs/types.ts';

const haveRedis = redisServerPath() !== undefined;
if (!haveRedis && !process.env.CI) console.warn('SKIPPED distributed-mode tests: redis-server is not installed (apt-get install redis-server); CI is unset');

async function reference(job: JobRecord): Promise<string> {
  const r = await new DeterministicRunner({ device: 'ref' }).run(job, {
    signal: new AbortController().signal,
    onProgress: () => {},
    onSnapshot: () => {},
    onCheckpoint: () => {},
  });
  return r.metadata.zChecksum as string;
}

describe.skipIf(!haveRedis && !process.env.CI)('distributed mode (BullMQ on a real redis-server)', () => {
  let redis: TestRedis;
  let conn: Redis;
  const workers: WorkerProc[] = [];
  const fronts: Front[] = [];
  const k = keys();
  const worker = async (id: string, env: Record<string, string> = {}): Promise<WorkerProc> => {
    const w = startWorker(redis.url, id, { SNAPSHOT_EVERY: '3', ...env });
    workers.push(w);
    await w.ready;
    return w;
  };
  const front = async (dir = tmpDir('front')): Promise<Front> => {
    const f = await startFront(redis.url, dir);
    fronts.push(f);
    return f;
  };
  const runs = async (id: string): Promise<{ worker: string; startStep: number }[]> =>
    (await conn.lrange(k.runs(id), 0, -1)).map((t) => JSON.parse(t) as { worker: string; startStep: number });
  const done = (f: Front, id: string) => f.events.some((e) => e.name === 'done' && e.job.id === id);
  const lastDone = (f: Front, id: string) => f.events.find((e) => e.name === 'done' && e.job.id === id)!.job;

  beforeAll(async () => {
    redis = await TestRedis.start();
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    conn.on('error', () => undefined);
    await worker('w1', { STEP_MS: '15' });
    await worker('w2', { STEP_MS: '15' });
  });
  afterAll(async () => {
    for (const f of fronts) await f.stop().catch(() => undefined);
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    conn?.disconnect();
    await redis?.stop();
  });

  it('runs jobs from several users on 2 worker processes, two at once, in fair order', async () => {
    const [w1, w2] = [workers[0]!, workers[1]!];
    const f = await front();
    await until(() => f.cluster.capacity === 2, 10_000, 'two worker devices');
    const ids: string[] = [];
    f.scheduler.pause('cluster'); // submit all, then release: the order is the fair one, not submission order
    for (const u of ['a', 'b', 'c']) for (let i = 0; i < 3; i++) ids.push(f.scheduler.submit(newJob(u, { req: { steps: 12, seed: i + 1 } })).job.id);
    f.scheduler.resume('cluster');
    let maxRunning = 0;
    await until(() => {
      maxRunning = Math.max(maxRunning, f.scheduler.runningJobs().length);
      return ids.every((id) => done(f, id));
    }, 60_000, 'all jobs done');
    expect(maxRunning).toBe(2);
    const order = f.events.filter((e) => e.name === 'started').map((e) => e.job.userId);
    expect(order.slice(0, 3).sort()).toEqual(['a', 'b', 'c']); // round-robin, not FIFO (a, a, a)
    const used = new Set<string>();
    for (const id of ids) for (const r of await runs(id)) used.add(r.worker);
    expect([...used].sort()).toEqual(['w1', 'w2']);
    for (const id of ids) expect(lastDone(f, id).metadata?.zChecksum).toBe(await reference(lastDone(f, id)));
    const text = await (await fetch(`http://127.0.0.1:${w1.metricsPort}/metrics`)).text();
    expect(Number(/reverie_worker_steps_total\{[^}]*device="cpu"[^}]*\} (\d+)/.exec(text)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/reverie_worker_device_state\{[^}]*state="ready"[^}]*\} 1/);
    expect(w1.proc.exitCode).toBeNull();
    expect(w2.proc.exitCode).toBeNull();
    await f.stop();
  });

  it('SIGKILL of a worker mid-job: the other worker finishes it from its checkpoint, same message, no step redone', async () => {
    const f = await front();
    await until(() => f.cluster.capacity >= 1, 10_000, 'a worker');
    const id = f.scheduler.submit(newJob('k', { req: { steps: 60, seed: 7 } })).job.id;
    f.scheduler.setDiscordRefs(id, { messageId: 'm-kill' });
    let victim: WorkerProc | undefined;
    await until(() => (victim = workers.find((w) => w.proc.exitCode === null && (w.steps.get(id) ?? 0) >= 10)) !== undefined, 20_000, 'progress');
    const ckptBefore = f.scheduler.getJob(id)!.checkpointStep ?? 0;
    victim!.proc.kill('SIGKILL');
    await victim!.exited;
    const killedAt = victim!.steps.get(id)!;
    // the checkpoint Redis holds now (the lock keeps other workers off it for 2 s): where the job must resume
    const inRedis = unpackCheckpoint((await conn.getBuffer(k.ckpt(id)))!).step;
    await until(() => done(f, id), 60_000, 'the job to finish elsewhere');
    const r = await runs(id);
    expect(r).toHaveLength(2);
    expect(r[1]!.worker).not.toBe(victim!.id);
    // resumed from the checkpoint Redis had at the kill: at least what the front saw, at most the last step computed
    expect(r[1]!.startStep).toBeGreaterThanOrEqual(Math.max(ckptBefore, 1));
    expect(r[1]!.startStep).toBe(inRedis); // no step before the last checkpoint redone
    expect(r[1]!.startStep).toBeLessThanOrEqual(killedAt);
    expect(r[0]!.startStep).toBe(0);
    const job = lastDone(f, id);
    expect(job.discord.messageId).toBe('m-kill');
    expect(f.events.filter((e) => e.name === 'started' && e.job.id === id)).toHaveLength(1);
    expect(job.metadata?.zChecksum).toBe(await reference(job)); // bit-identical to an uninterrupted run
    await worker('w3', { STEP_MS: '15' }); // back to two workers
    await f.stop();
  });

  it('SIGTERM of a worker: its job is handed back with a checkpoint and finishes on another worker', async () => {
    const f = await front();
    await until(() => f.cluster.capacity === 2, 10_000, 'two workers');
    const id = f.scheduler.submit(newJob('t', { req: { steps: 60, seed: 9 } })).job.id;
    let victim: WorkerProc | undefined;
    await until(() => (victim = workers.find((w) => w.proc.exitCode === null && (w.steps.get(id) ?? 0) >= 8)) !== undefined, 20_000, 'progress');
    const t0 = Date.now();
    victim!.proc.kill('SIGTERM');
    expect(await victim!.exited).toBe(0);
    console.log('SIGTERM: worker exited after', Date.now() - t0, 'ms');
    const stoppedAt = victim!.steps.get(id)!;
    await until(() => done(f, id), 30_000, 'the job to finish elsewhere');
    console.log('SIGTERM: job done', Date.now() - t0, 'ms after the signal');
    const r = await runs(id);
    expect(r).toHaveLength(2);
    expect(r[1]!.startStep).toBe(stoppedAt); // the final checkpoint: nothing redone, nothing skipped
    expect(lastDone(f, id).metadata?.zChecksum).toBe(await reference(lastDone(f, id)));
    await worker('w4', { STEP_MS: '15' });
    await f.stop();
  });

  it('cancel reaches the remote worker within one step', async () => {
    const f = await front();
    await until(() => f.cluster.capacity === 2, 10_000, 'two workers');
    const id = f.scheduler.submit(newJob('c', { req: { steps: 200, seed: 3 } })).job.id;
    let w: WorkerProc | undefined;
    await until(() => (w = workers.find((x) => x.proc.exitCode === null && (x.steps.get(id) ?? 0) >= 3)) !== undefined, 20_000, 'progress');
    const at = w!.steps.get(id)!;
    const c = f.scheduler.cancel(id);
    expect(c.ok).toBe(true);
    await until(async () => (await conn.lrange(k.runs(id), 0, -1)).length === 2, 5_000, 'the worker to record the cancel');
    const end = JSON.parse((await conn.lrange(k.runs(id), 1, 1))[0]!) as { cancelledAtStep: number; stoppedAtStep: number };
    expect(end.stoppedAtStep).toBeLessThanOrEqual(end.cancelledAtStep + 1); // the step under way finishes, no more
    await new Promise((r) => setTimeout(r, 300)); // 300 ms = 20 steps at 15 ms: it would have gone on
    expect(w!.steps.get(id)!).toBe(end.stoppedAtStep);
    expect(end.stoppedAtStep).toBeLessThanOrEqual(at + 3); // end to end (front → Redis → worker) on a busy machine
    await until(async () => (await conn.hgetall(k.workers)) && f.cluster.workers().every((x) => x.devices.every((d) => d.jobId !== id)), 5_000, 'the device to be free');
    await f.stop();
  });

  it('pause and resume one worker: the front releases only as many jobs as unpaused devices', async () => {
    const f = await front();
    await until(() => f.cluster.capacity === 2, 10_000, 'two workers');
    const live = f.cluster.workers();
    await f.cluster.pauseRemote(true, { worker: live[0]!.id });
    await until(() => f.cluster.capacity === 1, 10_000, 'the pause to show in the heartbeat');
    expect(f.cluster.workers().find((w) => w.id === live[0]!.id)!.devices[0]!.paused).toBe(true);
    const ids = [1, 2, 3].map((s) => f.scheduler.submit(newJob(`p${s}`, { req: { steps: 8, seed: s } })).job.id);
    let maxRunning = 0;
    await until(() => {
      maxRunning = Math.max(maxRunning, f.scheduler.runningJobs().length);
      return ids.every((id) => done(f, id));
    }, 30_000, 'the jobs on the one unpaused worker');
    expect(maxRunning).toBe(1);
    for (const id of ids) expect((await runs(id)).map((r) => r.worker)).toEqual([live[1]!.id]);
    await f.cluster.pauseRemote(false, { worker: live[0]!.id });
    await until(() => f.cluster.capacity === 2, 10_000, 'the resume');
    await f.stop();
  });

  it('redis-server stopped and restarted (AOF) mid-run: no job lost', async () => {
    const f = await front();
    await until(() => f.cluster.capacity === 2, 10_000, 'two workers');
    const ids = ['r1', 'r2', 'r3'].flatMap((u) => [1, 2].map((s) => f.scheduler.submit(newJob(u, { req: { steps: 25, seed: s } })).job.id));
    await until(() => workers.some((w) => w.proc.exitCode === null && [...w.steps.keys()].some((j) => ids.includes(j))), 20_000, 'progress');
    await redis.down();
    await new Promise((r) => setTimeout(r, 700));
    await redis.up();
    await until(() => ids.every((id) => done(f, id) || f.events.some((e) => e.name === 'failed' && e.job.id === id)), 90_000, 'all jobs settled');
    expect(f.events.filter((e) => e.name === 'failed' && ids.includes(e.job.id)).map((e) => (e.payload as { error: string }).error)).toEqual([]);
    for (const id of ids) expect(lastDone(f, id).metadata?.zChecksum).toBe(await reference(lastDone(f, id)));
    await f.stop();
  });

  it('front SIGTERM loses nothing: the job goes on on its worker, and the restarted front re-attaches to the same message', async () => {
    const dir = tmpDir('front');
    const f1 = await front(dir);
    await until(() => f1.cluster.capacity === 2, 10_000, 'two workers');
    const id = f1.scheduler.submit(newJob('f', { req: { steps: 80, seed: 5 } })).job.id;
    f1.scheduler.setDiscordRefs(id, { messageId: 'm-front' });
    await until(() => workers.some((w) => (w.steps.get(id) ?? 0) >= 5), 20_000, 'progress');
    await f1.stop();
    const f2 = await front(dir);
    await until(() => done(f2, id), 30_000, 'the job to finish under the new front');
    expect(await runs(id)).toHaveLength(1); // never restarted on a worker
    const job = lastDone(f2, id);
    expect(job.discord.messageId).toBe('m-front');
    expect(job.metadata?.zChecksum).toBe(await reference(job));
    await f2.stop();
  });

  it('migration: an embedded install\'s running job continues on a worker from its SQLite checkpoint', async () => {
    const dir = tmpDir('front');
    const store = new JobStore({ dataDir: dir });
    const rec = store.insertJob(newJob('m', { req: { steps: 30, seed: 11 } }));
    store.markRunning(rec.id, 'cpu');
    // the embedded engine got to step 12 before the old process stopped
    let ck: import('../../../src/jobs/types.ts').Checkpoint | undefined;
    await new DeterministicRunner({ device: 'cpu' }).run(rec, {
      signal: new AbortController().signal,
      onProgress: () => {},
      onSnapshot: () => {},
      onCheckpoint: (c) => {
        if (c.step === 12) ck = c;
      },
    });
    store.saveCheckpoint(rec.id, ck!);
    const report = await migrateToRedis(store, redis.url);
    expect(report).toMatchObject({ running: 1, queued: 0, checkpoints: 1, problems: [] });
    expect(store.getJob(rec.id)!.state).toBe('queued');
    store.close();
    const f = await front(dir);
    await until(() => done(f, rec.id), 30_000, 'the migrated job');
    expect((await runs(rec.id))[0]!.startStep).toBe(12);
    expect(lastDone(f, rec.id).metadata?.zChecksum).toBe(await reference(lastDone(f, rec.id)));
    await f.stop();
  });

  it('a job that kills its worker more than MAX_INTERRUPTIONS times fails with a message', async () => {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    const trio = [await worker('x1', { MAX_INTERRUPTIONS: '1' }), await worker('x2', { MAX_INTERRUPTIONS: '1' }), await worker('x3', { MAX_INTERRUPTIONS: '1' })];
    const f = await startFront(redis.url, tmpDir('front'), { maxInterruptions: 1 });
    fronts.push(f);
    await until(() => f.cluster.capacity === 3, 10_000, 'three workers');
    const id = f.scheduler.submit(newJob('boom', { req: { steps: 400, seed: 2 } })).job.id;
    for (let kill = 0; kill < 2; kill++) {
      let v: WorkerProc | undefined;
      await until(() => (v = trio.find((w) => w.proc.exitCode === null && (w.steps.get(id) ?? 0) > 0 && !w.proc.killed)) !== undefined, 20_000, `run ${kill + 1}`);
      v!.proc.kill('SIGKILL');
      await v!.exited;
    }
    await until(() => f.events.some((e) => e.name === 'failed' && e.job.id === id), 20_000, 'the job to fail');
    const failed = f.events.find((e) => e.name === 'failed' && e.job.id === id)!;
    expect((failed.payload as { error: string }).error).toBe(MAX_INTERRUPTIONS_MESSAGE(1));
    expect(await runs(id)).toHaveLength(2);
    await f.stop();
  });

  it('the real engine (tiny fixture models) paints through Redis: snapshots, result, timelapse and final z reach the front', async () => {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await worker('e1', { RUNNER: 'engine' });
    const f = await front();
    await until(() => f.cluster.capacity === 1, 20_000, 'the engine worker');
    const id = f.scheduler.submit(newJob('e', { req: { prompt: 'a red apple', steps: 6, width: 64, height: 64, seed: 5, cutn: 4, cutMethod: 'original', saveEvery: 2 } })).job.id;
    await until(() => done(f, id) || f.events.some((e) => e.name === 'failed' && e.job.id === id), 60_000, 'the engine job');
    expect(f.events.filter((e) => e.name === 'failed' && e.job.id === id).map((e) => (e.payload as { error: string }).error)).toEqual([]);
    const job = lastDone(f, id);
    expect(f.events.filter((e) => e.name === 'snapshot' && e.job.id === id).length).toBeGreaterThan(0);
    expect(fs.readFileSync(job.resultPath!).subarray(1, 4).toString()).toBe('PNG');
    expect(job.finalZPath && fs.existsSync(job.finalZPath)).toBe(true);
    expect(job.timelapsePath && fs.existsSync(job.timelapsePath)).toBe(true);
    expect(job.metadata?.worker).toBe('e1');
    await f.stop();
  });
});
