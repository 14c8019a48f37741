import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JobNotFoundError, JobRefusedError } from '../../src/jobs/errors.ts';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { JobStore } from '../../src/jobs/store.ts';
import type { PositionEvent, QueuedEvent } from '../../src/jobs/types.ts';
import { DeterministicRunner } from './deterministic-runner.ts';
import { newJob, referenceChecksum, rig, sleep, tmpDir, waitFor } from './helpers.ts';

describe('fair scheduling', () => {
  it('user A queues 5 jobs, then user B queues 1: B runs second, A keeps FIFO', async () => {
    const { scheduler, started } = rig({ limits: { perUserCap: 10 } });
    const a = [1, 2, 3, 4, 5].map((i) => scheduler.submit(newJob('A', { req: { prompt: `a${i}` } })).job.id);
    const b = scheduler.submit(newJob('B'));
    expect(b.position).toBe(1); // A1 is running; B is next
    await scheduler.whenIdle();
    expect(started()).toEqual([a[0], b.job.id, a[1], a[2], a[3], a[4]]);
    for (const id of [...a, b.job.id]) expect(scheduler.store.getJob(id)!.state).toBe('done');
  });

  it('takes turns across guilds first, then across users within a guild; positions predict the real order', async () => {
    const { scheduler, started, events } = rig({ limits: { perUserCap: 10 } });
    scheduler.pause();
    const ids: Record<string, string> = {};
    for (const [name, user, guild] of [
      ['u1a', 'u1', 'G1'], ['u1b', 'u1', 'G1'], ['u2a', 'u2', 'G1'], ['u2b', 'u2', 'G1'],
      ['u3a', 'u3', 'G1'], ['u3b', 'u3', 'G1'], ['v1', 'v', 'G2'], ['v2', 'v', 'G2'],
    ] as const)
      ids[scheduler.submit(newJob(user, { guildId: guild })).job.id] = name;
    const predicted = scheduler.queue().map((e) => ids[e.job.id]);
    expect(predicted).toEqual(['u1a', 'v1', 'u2a', 'v2', 'u3a', 'u1b', 'u2b', 'u3b']);
    // every waiting job was told its latest position
    const lastPos = new Map<string, number>();
    for (const e of events) if (e.name === 'queued' || e.name === 'position') lastPos.set(e.job.id, (e.payload as PositionEvent).position);
    expect([...lastPos.entries()].sort((x, y) => x[1] - y[1]).map(([id]) => ids[id])).toEqual(predicted);
    scheduler.resume();
    await scheduler.whenIdle();
    expect(started().map((id) => ids[id])).toEqual(predicted);
  });

  it('runs two jobs at once on two devices', async () => {
    const { scheduler, events } = rig({ devices: ['cpu:0', 'cpu:1'], runner: { stepDelayMs: 5 } });
    let live = 0;
    let peak = 0;
    scheduler.on('started', () => (peak = Math.max(peak, ++live)));
    scheduler.on('done', () => live--);
    scheduler.submit(newJob('A', { req: { steps: 20 } }));
    scheduler.submit(newJob('B', { req: { steps: 20 } }));
    scheduler.submit(newJob('C', { req: { steps: 20 } }));
    const firstDone = waitFor(scheduler, 'done');
    await waitFor(scheduler, 'started', (e) => e.job.userId === 'B');
    expect(scheduler.runningJobs().map((j) => j.userId).sort()).toEqual(['A', 'B']);
    await firstDone;
    await scheduler.whenIdle();
    expect(peak).toBe(2);
    const devices = events.filter((e) => e.name === 'started').map((e) => (e.payload as { device: string }).device);
    expect(new Set(devices.slice(0, 2))).toEqual(new Set(['cpu:0', 'cpu:1']));
  });
});

describe('caps', () => {
  it('refuses a user past the per-user cap with a clear message, and accepts again after a cancel', () => {
    const { scheduler, store } = rig();
    scheduler.pause();
    const ids = [1, 2, 3].map(() => scheduler.submit(newJob('A')).job.id);
    let err: unknown;
    try {
      scheduler.submit(newJob('A'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JobRefusedError);
    expect((err as JobRefusedError).code).toBe('user_cap');
    expect((err as JobRefusedError).userMessage).toBe('You already have 3 jobs waiting: wait for one to finish or cancel one with /queue');
    expect(store.listJobs({ userId: 'A' })).toHaveLength(3);
    expect(() => scheduler.submit(newJob('B'))).not.toThrow(); // others are not affected
    scheduler.cancel(ids[0]!);
    expect(() => scheduler.submit(newJob('A'))).not.toThrow();
  });

  it('counts the running job against the per-user cap', async () => {
    const { scheduler } = rig({ limits: { perUserCap: 2 }, runner: { stepDelayMs: 5 } });
    scheduler.submit(newJob('A', { req: { steps: 200 } }));
    await waitFor(scheduler, 'started');
    scheduler.submit(newJob('A'));
    expect(() => scheduler.submit(newJob('A'))).toThrow(/You already have 2 jobs waiting/);
    await scheduler.shutdown();
  });

  it('refuses everyone past the global queue cap; admins can change limits and they persist', () => {
    const dir = tmpDir();
    const { scheduler, store } = rig({ dir, limits: { globalQueueCap: 2 } });
    scheduler.pause();
    scheduler.submit(newJob('A'));
    scheduler.submit(newJob('B'));
    expect(() => scheduler.submit(newJob('C'))).toThrow(expect.objectContaining({ code: 'global_cap', userMessage: expect.stringMatching(/queue is full/) }));
    expect(store.listJobs()).toHaveLength(2);
    scheduler.setLimits({ globalQueueCap: 3 });
    expect(() => scheduler.submit(newJob('C'))).not.toThrow();
    const again = new Scheduler({ store, runners: [new DeterministicRunner({ device: 'cpu' })] });
    expect(again.limits.globalQueueCap).toBe(3);
  });
});

describe('cancel, re-roll, pause', () => {
  it('cancels a queued job: removed, others move up, never run', async () => {
    const { scheduler, store, events, runners } = rig();
    scheduler.pause();
    const [a, b, c] = ['A', 'B', 'C'].map((u) => scheduler.submit(newJob(u)).job.id);
    const res = scheduler.cancel(b!);
    expect(res).toMatchObject({ ok: true, wasRunning: false });
    expect(store.getJob(b!)!.state).toBe('cancelled');
    expect(scheduler.position(c!)!.position).toBe(2);
    expect(events.some((e) => e.name === 'position' && e.job.id === c && (e.payload as PositionEvent).position === 2)).toBe(true);
    expect(events.some((e) => e.name === 'cancelled' && e.job.id === b)).toBe(true);
    scheduler.resume();
    await scheduler.whenIdle();
    expect(runners[0]!.runs.map((r) => r.jobId)).toEqual([a, c]);
    expect(scheduler.cancel(b!)).toMatchObject({ ok: false, reason: 'finished' });
    expect(scheduler.cancel('nope')).toMatchObject({ ok: false, reason: 'not_found' });
  });

  it('cancels a running job within a step and the device moves on', async () => {
    const { scheduler, store, runners } = rig({ runner: { stepDelayMs: 5 } });
    const long = scheduler.submit(newJob('A', { req: { steps: 10_000 } })).job.id;
    const next = scheduler.submit(newJob('B', { req: { steps: 5 } })).job.id;
    const at = await waitFor(scheduler, 'progress', (p) => p.step >= 5);
    const res = scheduler.cancel(long);
    expect(res).toMatchObject({ ok: true, wasRunning: true });
    expect(store.getJob(long)!.state).toBe('cancelled'); // at once
    if (res.ok) await res.stopped;
    const run = runners[0]!.runs.find((r) => r.jobId === long)!;
    expect(run.outcome).toBe('aborted');
    expect(run.endStep).toBeLessThanOrEqual(at.step + 2);
    await waitFor(scheduler, 'done', (d) => d.job.id === next);
    expect(store.getJob(long)!.state).toBe('cancelled');
    expect(store.getJob(long)!.resultPath).toBeUndefined();
    expect(fs.readdirSync(store.jobDir(long)).filter((f) => f.startsWith('checkpoint'))).toEqual([]);
  });

  it('a job cancelled between dispatch and start never runs and stays cancelled', async () => {
    const { scheduler, store, runners, started } = rig();
    const id = scheduler.submit(newJob('A')).job.id; // dispatched at once (device free), starts next tick
    expect(scheduler.cancel(id)).toMatchObject({ ok: true, wasRunning: true });
    await scheduler.whenIdle();
    expect(runners[0]!.runs).toEqual([]);
    expect(started()).toEqual([]);
    expect(store.getJob(id)!.state).toBe('cancelled');
    store.markRunning(id, 'cpu'); // the store refuses to revive it, too
    expect(store.getJob(id)!.state).toBe('cancelled');
  });

  it('re-roll makes a new job linked to its parent with the new seed', async () => {
    const { scheduler, store } = rig();
    const parent = scheduler.submit(newJob('A', { req: { prompt: 'owl', seed: 1 } })).job;
    await waitFor(scheduler, 'done');
    const child = scheduler.reroll(parent.id, 7, 'B', { userName: 'Bea' }).job;
    expect(child).toMatchObject({ parentId: parent.id, userId: 'B', userName: 'Bea', guildId: 'g1', state: 'queued' });
    expect(child.request).toEqual({ ...parent.request, seed: 7 });
    expect(child.discord.channelId).toBe(parent.discord.channelId);
    const done = await waitFor(scheduler, 'done', (d) => d.job.id === child.id);
    expect(store.listJobs({ parentId: parent.id }).map((j) => j.id)).toEqual([child.id]);
    expect(done.job.metadata!.zChecksum).not.toBe(store.getJob(parent.id)!.metadata!.zChecksum);
    expect(() => scheduler.reroll('missing', 1, 'A')).toThrow(JobNotFoundError);
  });

  it('pause stops a device taking jobs (running ones finish); resume goes on; pauses persist', async () => {
    const dir = tmpDir();
    const { scheduler, store, started } = rig({ dir, runner: { stepDelayMs: 2 } });
    const first = scheduler.submit(newJob('A', { req: { steps: 30 } })).job.id;
    await waitFor(scheduler, 'started');
    scheduler.pause('cpu');
    const second = scheduler.submit(newJob('B')).job.id;
    await waitFor(scheduler, 'done', (d) => d.job.id === first);
    await sleep(50);
    expect(started()).toEqual([first]);
    expect(store.getJob(second)!.state).toBe('queued');
    expect(new Scheduler({ store, runners: [new DeterministicRunner({ device: 'cpu' })] }).devicesStatus()[0]!.paused).toBe(true);
    scheduler.resume('cpu');
    await waitFor(scheduler, 'done', (d) => d.job.id === second);
    expect(started()).toEqual([first, second]);
  });
});

describe('ETA and positions', () => {
  it('gives cost-aware ETAs from steps × size × cutn over the devices', () => {
    const { scheduler, events } = rig({ secPerUnitStep: () => 0.5, limits: { perUserCap: 5 } });
    scheduler.pause();
    const a1 = scheduler.submit(newJob('A', { req: { steps: 100 } })); // 100 × 1 × 0.5 = 50 s
    const a2 = scheduler.submit(newJob('A', { req: { steps: 100 } }));
    expect([a1.position, a1.etaSec, a1.etaDoneSec]).toEqual([1, 0, 50]);
    expect([a2.position, a2.etaSec]).toEqual([2, 50]);
    // B: 512×256 (×2) with cutn 64 (×2), 25 steps → 25 × 4 × 0.5 = 50 s; goes before A2
    const b = scheduler.submit(newJob('B', { req: { steps: 25, width: 512, height: 256, cutn: 64 } }));
    expect([b.position, b.etaSec, b.etaDoneSec]).toEqual([2, 50, 100]);
    const moved = events.filter((e) => e.name === 'position' && e.job.id === a2.job.id).map((e) => e.payload as PositionEvent);
    expect(moved.at(-1)).toMatchObject({ position: 3, etaSec: 100 });
    const q = events.find((e) => e.name === 'queued' && e.job.id === b.job.id)!.payload as QueuedEvent;
    expect(q.position).toBe(2);
  });

  it('divides the queue over two devices', () => {
    const { scheduler } = rig({ devices: ['cuda:0', 'cuda:1'], secPerUnitStep: () => 1, limits: { perUserCap: 5 } });
    scheduler.pause();
    for (const u of ['A', 'B', 'C', 'D']) scheduler.submit(newJob(u, { req: { steps: 10 } }));
    expect(scheduler.queue().map((e) => e.etaSec)).toEqual([0, 0, 10, 10]);
  });

  it('calibrates seconds per unit step from measured runs and keeps them in the store', async () => {
    const dir = tmpDir();
    const { scheduler, store } = rig({ dir, secPerUnitStep: () => 99, runner: { stepDelayMs: 4 } });
    expect(scheduler.devicesStatus()[0]).toMatchObject({ secPerUnitStep: 99, measured: false });
    scheduler.submit(newJob('A', { req: { steps: 15, width: 512, height: 512 } })); // unit factor 4
    await scheduler.whenIdle();
    const spu = scheduler.devicesStatus()[0]!.secPerUnitStep;
    expect(scheduler.devicesStatus()[0]!.measured).toBe(true);
    expect(spu).toBeGreaterThan(0.003 / 4);
    expect(spu).toBeLessThan(0.2);
    const again = new Scheduler({ store, runners: [new DeterministicRunner({ device: 'cpu' })], secPerUnitStep: () => 99 });
    expect(again.devicesStatus()[0]!.secPerUnitStep).toBeCloseTo(spu);
  });
});

describe('failures and shutdown', () => {
  it('a failing job fails with a message and the next one still runs', async () => {
    const { scheduler, store } = rig({ runner: { failPrompt: 'boom' } });
    const bad = scheduler.submit(newJob('A', { req: { prompt: 'boom' } })).job.id;
    const good = scheduler.submit(newJob('B')).job.id;
    const failed = await waitFor(scheduler, 'failed');
    expect(failed.job.id).toBe(bad);
    // the raw error stays in the log; the user reads plain words and the job id
    expect(failed.error).toMatch(new RegExp(`internal error \\(the details are in the bot's log under job ${bad}\\)`));
    expect(failed.error).not.toMatch(/engine blew up/);
    await waitFor(scheduler, 'done', (d) => d.job.id === good);
    expect(store.getJob(bad)).toMatchObject({ state: 'failed', error: failed.error });
  });

  it('a throwing event listener does not break scheduling', async () => {
    const { scheduler } = rig();
    scheduler.on('started', () => {
      throw new Error('listener bug');
    });
    scheduler.submit(newJob('A'));
    const d = await waitFor(scheduler, 'done');
    expect(d.job.state).toBe('done');
  });

  it('graceful shutdown checkpoints the running job, requeues it (no interruption), and a restart finishes it exactly', async () => {
    const dir = tmpDir();
    const one = rig({ dir, runner: { stepDelayMs: 3 } });
    const id = one.scheduler.submit(newJob('A', { req: { steps: 60, seed: 5 } })).job.id;
    const waiting = one.scheduler.submit(newJob('B')).job.id;
    await waitFor(one.scheduler, 'progress', (p) => p.step >= 8);
    await one.scheduler.shutdown();
    expect(one.store.isOpen).toBe(false);
    expect(() => one.scheduler.submit(newJob('C'))).toThrow(expect.objectContaining({ code: 'shutting_down' }));
    const store = new JobStore({ dataDir: dir, durable: false });
    const saved = store.getJob(id)!;
    expect(saved).toMatchObject({ state: 'queued', interruptions: 0 });
    expect(saved.checkpointStep).toBeGreaterThanOrEqual(8);
    expect(store.getJob(waiting)!.state).toBe('queued');
    store.close();

    const two = rig({ dir, start: false });
    two.scheduler.recover();
    const started = await waitFor(two.scheduler, 'started');
    expect(started.job.id).toBe(id);
    expect(started.resumedFromStep).toBe(saved.checkpointStep);
    const done = await waitFor(two.scheduler, 'done', (d) => d.job.id === id);
    expect(done.job.metadata!.zChecksum).toBe(await referenceChecksum(done.job));
    expect(two.runners[0]!.runs[0]!.startStep).toBe(saved.checkpointStep);
    await two.scheduler.whenIdle();
  });
});
