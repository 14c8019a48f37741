import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobStore } from '../../src/jobs/store.ts';
import type { Checkpoint, FailedEvent } from '../../src/jobs/types.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { newJob, referenceChecksum, rig, tmpDir, waitFor } from './helpers.ts';

const ckpt = (step: number): Checkpoint => ({
  step,
  z: new Float32Array(64).fill(0.25),
  zShape: [1, 64],
  optimiser: { name: 'momentum', state: { m: new Float32Array(64), beta: 0.9 } },
  rng: [11, 22, 33, 44],
});

describe('restart recovery', () => {
  it('a process killed with SIGKILL mid-job restarts and finishes the job from its checkpoint, not redoing steps', async () => {
    const dir = tmpDir('kill');
    const stepLog = path.join(dir, 'steps.log');
    const seeded = new JobStore({ dataDir: dir, durable: false });
    const job = seeded.insertJob(newJob('A', { req: { steps: 80, seed: 42 } }));
    seeded.close();

    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/jobs/fixtures/kill-target.ts'), dir, stepLog], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = [...buf.matchAll(/progress \S+ (\d+)/g)].at(-1);
        if (m && Number(m[1]) >= 25) resolve();
      });
      void exited.then(() => reject(new Error(`child exited before the kill: ${stderr}`)));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const store = new JobStore({ dataDir: dir, durable: false });
    const killed = store.getJob(job.id)!;
    expect(killed.state).toBe('running'); // nobody had a chance to clean up
    const k = killed.checkpointStep!;
    expect(k).toBeGreaterThanOrEqual(24); // progress of a step is reported just before its checkpoint is saved
    expect(k).toBeLessThan(80);
    store.close();
    const before = fs.readFileSync(stepLog, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2]));

    const { scheduler, runners } = rig({ dir, start: false, runner: { stepDelayMs: 1, onStep: (_id, step) => fs.appendFileSync(stepLog, `${process.pid} ${job.id} ${step}\n`) } });
    const startedP = waitFor(scheduler, 'started');
    const doneP = waitFor(scheduler, 'done');
    const report = scheduler.recover();
    expect(report.resumed).toEqual([job.id]);
    const started = await startedP;
    expect(started.resumedFromStep).toBe(k);
    expect(started.job.interruptions).toBe(1);
    const done = await doneP;

    const all = fs.readFileSync(stepLog, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[2]));
    const after = all.slice(before.length);
    expect(before.slice(0, k)).toEqual([...Array(k).keys()]); // steps 0..k-1 ran once, before the kill
    expect(after[0]).toBe(k); // the restart began where the checkpoint left off
    expect(after).toEqual([...Array(80 - k).keys()].map((i) => i + k));
    expect(before.length - k).toBeLessThanOrEqual(1); // at most the one in-flight step is ever done twice
    expect(runners[0]!.runs).toEqual([{ jobId: job.id, startStep: k, endStep: 80, outcome: 'done' }]);
    // bit-identical to a run that was never interrupted
    expect(done.job.metadata!.zChecksum).toBe(await referenceChecksum(done.job));
    expect(fs.readFileSync(done.resultPath).subarray(1, 4).toString()).toBe('PNG');
    await scheduler.shutdown();
  });

  it('a damaged or missing checkpoint fails that job only; the others resume or restart and finish', async () => {
    const dir = tmpDir('corrupt');
    const s = new JobStore({ dataDir: dir, durable: false });
    const mk = (user: string, state: 'running' | 'queued', step?: number): string => {
      const j = s.insertJob(newJob(user, { req: { steps: 12 } }));
      if (state === 'running') s.markRunning(j.id, 'cpu');
      if (step !== undefined) s.saveCheckpoint(j.id, ckpt(step));
      return j.id;
    };
    const damaged = mk('A', 'running', 4);
    const lost = mk('B', 'running', 4);
    const intact = mk('C', 'running', 6);
    const noCkpt = mk('D', 'running'); // killed before its first checkpoint: starts over
    const queued = mk('E', 'queued');
    const p = s.getJob(damaged)!;
    const file = path.join(s.jobDir(p.id), fs.readdirSync(s.jobDir(p.id)).find((f) => f.startsWith('checkpoint'))!);
    const buf = fs.readFileSync(file);
    buf[buf.length - 1]! ^= 0x01;
    fs.writeFileSync(file, buf);
    fs.rmSync(s.jobDir(lost), { recursive: true });
    s.close();

    const { scheduler, store, events, runners } = rig({ dir, start: false });
    const report = scheduler.recover();
    expect(report.failed.map((f) => f.id).sort()).toEqual([damaged, lost].sort());
    const failed = events.filter((e) => e.name === 'failed').map((e) => e.payload as FailedEvent);
    expect(failed.find((f) => f.job.id === damaged)!.error).toMatch(/saved progress of this job was damaged/);
    expect(failed.find((f) => f.job.id === lost)!.error).toMatch(/saved progress of this job was lost/);
    await scheduler.whenIdle();
    for (const id of [intact, noCkpt, queued]) expect(store.getJob(id)!.state, id).toBe('done');
    for (const id of [damaged, lost]) expect(store.getJob(id)!.state).toBe('failed');
    const runs = new Map(runners[0]!.runs.map((r) => [r.jobId, r.startStep]));
    expect(runs.get(intact)).toBe(6);
    expect(runs.get(noCkpt)).toBe(0);
    expect(runs.has(damaged) || runs.has(lost)).toBe(false);
  });

  it('a checkpoint damaged after recovery fails the job when it is picked up, and the device goes on', async () => {
    const dir = tmpDir('late');
    const s = new JobStore({ dataDir: dir, durable: false });
    const a = s.insertJob(newJob('A'));
    s.markRunning(a.id, 'cpu');
    s.saveCheckpoint(a.id, ckpt(3));
    const b = s.insertJob(newJob('B'));
    s.close();
    const { scheduler, store } = rig({ dir, start: false });
    scheduler.pause();
    scheduler.recover();
    fs.rmSync(store.jobDir(a.id), { recursive: true });
    scheduler.resume();
    await scheduler.whenIdle();
    expect(store.getJob(a.id)).toMatchObject({ state: 'failed', error: expect.stringMatching(/lost/) });
    expect(store.getJob(b.id)!.state).toBe('done');
  });

  it('fails a job interrupted more than maxInterruptions times instead of looping', async () => {
    const dir = tmpDir('loop');
    const s = new JobStore({ dataDir: dir, durable: false });
    const looping = s.insertJob(newJob('A'));
    const once = s.insertJob(newJob('B'));
    for (const j of [looping, once]) s.markRunning(j.id, 'cpu');
    s.markQueued(looping.id, 3);
    s.markRunning(looping.id, 'cpu'); // running for the 4th time when the process dies again
    s.markQueued(once.id, 2);
    s.markRunning(once.id, 'cpu');
    s.close();
    const { scheduler, store } = rig({ dir, start: false, limits: { maxInterruptions: 3 } });
    const report = scheduler.recover();
    expect(report.failed).toEqual([{ id: looping.id, error: expect.stringMatching(/interrupted 4 times/) }]);
    await scheduler.whenIdle();
    expect(store.getJob(looping.id)).toMatchObject({ state: 'failed', interruptions: 3 });
    expect(store.getJob(once.id)).toMatchObject({ state: 'done', interruptions: 3 });
  });

  it('keeps queued order after a restart, with the interrupted job first', async () => {
    const dir = tmpDir('order');
    const s = new JobStore({ dataDir: dir, durable: false });
    const b1 = s.insertJob(newJob('B')).id;
    const a1 = s.insertJob(newJob('A')).id;
    const a2 = s.insertJob(newJob('A')).id;
    const a3 = s.insertJob(newJob('A')).id;
    const c1 = s.insertJob(newJob('C')).id;
    s.markRunning(a1, 'cpu'); // A1 was painting when the bot died
    s.close();
    const { scheduler, started } = rig({ dir, start: false, limits: { perUserCap: 5 } });
    scheduler.pause();
    scheduler.recover();
    expect(scheduler.queue().map((e) => e.job.id)).toEqual([a1, b1, c1, a2, a3]);
    scheduler.resume();
    await scheduler.whenIdle();
    expect(started()).toEqual([a1, b1, c1, a2, a3]);
  });
});
