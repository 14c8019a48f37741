import { afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeterministicRunner, type DeterministicRunnerOptions } from './deterministic-runner.ts';
import { Scheduler, type SchedulerOptions } from '../../src/jobs/scheduler.ts';
import { JobStore } from '../../src/jobs/store.ts';
import type { GenerationRequest, JobRecord, NewJob, SchedulerEventMap } from '../../src/jobs/types.ts';

const made: string[] = [];
// Registered while the importing test file is collected, so it runs after that file's tests.
afterAll(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary data directory, removed when the test process exits. */
export function tmpDir(label = 'jobs'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `reverie-${label}-`));
  made.push(d);
  return d;
}

export function req(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return { prompt: 'a lighthouse in a storm', steps: 10, width: 256, height: 256, seed: 1, ...over };
}

export function newJob(userId: string, over: Partial<NewJob> & { req?: Partial<GenerationRequest> } = {}): NewJob {
  const guildId = over.guildId === undefined ? 'g1' : over.guildId;
  const { req: r, ...rest } = over;
  return { userId, guildId, discord: { guildId, channelId: 'c1' }, request: req(r), ...rest };
}

export interface Rig {
  dir: string;
  store: JobStore;
  scheduler: Scheduler;
  runners: DeterministicRunner[];
  events: { name: keyof SchedulerEventMap; job: JobRecord; payload: unknown }[];
  started: () => string[];
}

export function rig(
  opts: { devices?: string[]; runner?: Omit<DeterministicRunnerOptions, 'device'>; dir?: string; start?: boolean } & Partial<Omit<SchedulerOptions, 'store' | 'runners'>> = {},
): Rig {
  const dir = opts.dir ?? tmpDir();
  const store = new JobStore({ dataDir: dir, durable: false });
  const runners = (opts.devices ?? ['cpu']).map((device) => new DeterministicRunner({ device, stepDelayMs: 1, ...opts.runner }));
  const { devices: _d, runner: _r, dir: _dir, start, ...schedOpts } = opts;
  const scheduler = new Scheduler({ store, runners, ...schedOpts });
  const events: Rig['events'] = [];
  for (const name of ['queued', 'position', 'started', 'progress', 'snapshot', 'done', 'failed', 'cancelled'] as const)
    scheduler.on(name, (p: { job: JobRecord }) => events.push({ name, job: p.job, payload: p }));
  if (start ?? true) scheduler.recover();
  return { dir, store, scheduler, runners, events, started: () => events.filter((e) => e.name === 'started').map((e) => e.job.id) };
}

export function waitFor<K extends keyof SchedulerEventMap>(
  s: Scheduler,
  name: K,
  pred: (...a: SchedulerEventMap[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<SchedulerEventMap[K][0]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.off(name, fn as never);
      reject(new Error(`timed out waiting for ${name}`));
    }, timeoutMs);
    const fn = (...a: SchedulerEventMap[K]): void => {
      if (!pred(...a)) return;
      clearTimeout(t);
      s.off(name, fn as never);
      resolve(a[0]);
    };
    s.on(name, fn as never);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** zChecksum of an uninterrupted run of the job (the deterministic runner's result is bit-exact). */
export async function referenceChecksum(job: JobRecord): Promise<string> {
  const r = new DeterministicRunner({ device: 'ref', stepDelayMs: 0 });
  const res = await r.run(job, { signal: new AbortController().signal, onProgress() {}, onSnapshot() {}, onCheckpoint() {} });
  return res.metadata.zChecksum as string;
}
