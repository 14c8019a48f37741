/**
 * Bounded disk use. When a job ends (done, failed, cancelled): its uploaded images go (unless a waiting
 * job uses the same file) and its intermediate snapshots and checkpoint go; the final picture, the
 * timelapse and the final z stay. With RETENTION_DAYS > 0, those too go once the job ended that many
 * days ago (checked at start and every hour). Uploads nobody points at (a refused request, a kill in
 * between) are swept after an hour.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Scheduler } from './scheduler.ts';
import type { JobStoreApi } from './store-api.ts';
import type { GenerationRequest, JobRecord } from './types.ts';

export interface RetentionOptions {
  store: JobStoreApi;
  /** where /imagine's downloads go (only files inside it are ever deleted as uploads) */
  uploadsDir: string;
  /** 0 = keep results for ever */
  retentionDays: number;
  log: Logger;
  /** how often results and stray uploads are swept (default 1 h) */
  sweepEveryMs?: number;
}

function inside(dir: string, file: string): boolean {
  const r = path.relative(path.resolve(dir), path.resolve(file));
  return !!r && !r.startsWith('..') && !path.isAbsolute(r);
}

function inputFiles(r: GenerationRequest): string[] {
  return [...(r.imagePrompts ?? []), ...(r.initImage ? [r.initImage] : [])];
}

function rm(file: string): boolean {
  try {
    fs.rmSync(file);
    return true;
  } catch {
    return false;
  }
}

/** Deletes the job's uploads that no waiting or running job uses; returns how many. */
export function removeUploads(store: JobStoreApi, job: JobRecord, uploadsDir: string): number {
  const mine = inputFiles(job.request).filter((f) => inside(uploadsDir, f));
  if (!mine.length) return 0;
  const used = new Set(store.listActive().filter((j) => j.id !== job.id).flatMap((j) => inputFiles(j.request).map((f) => path.resolve(f))));
  return mine.filter((f) => !used.has(path.resolve(f)) && rm(f)).length;
}

/** What a job leaves behind when it ends: uploads, snapshots, checkpoint. Returns the number of files removed. */
export function cleanUpEndedJob(store: JobStoreApi, job: JobRecord, uploadsDir: string): number {
  return removeUploads(store, job, uploadsDir) + store.pruneEndedJob(job.id);
}

/** Results of jobs that ended more than `days` ago: files removed, rows forget them. Returns the number of jobs. */
export function sweepResults(store: JobStoreApi, days: number, now = Date.now()): number {
  if (days <= 0) return 0;
  let n = 0;
  for (;;) {
    const batch = store.finishedBefore(now - days * 86_400_000, 200);
    if (!batch.length) return n;
    for (const j of batch) {
      const files = [j.resultPath, j.timelapsePath, j.finalZPath, j.snapshotPath].filter((f): f is string => !!f);
      for (const f of files) rm(f);
      store.forgetResultFiles(j.id);
      const dir = files[0] ? path.dirname(files[0]) : undefined;
      if (dir) fs.rm(dir, { recursive: false }, () => undefined); // only goes when empty
      n++;
    }
  }
}

/** Files in the uploads folder older than `olderThanMs` that no waiting or running job uses. */
export function sweepUploads(store: JobStoreApi, uploadsDir: string, olderThanMs: number, now = Date.now()): number {
  let names: string[];
  try {
    names = fs.readdirSync(uploadsDir);
  } catch {
    return 0;
  }
  const used = new Set(store.listActive().flatMap((j) => inputFiles(j.request).map((f) => path.resolve(f))));
  let n = 0;
  for (const name of names) {
    const f = path.resolve(uploadsDir, name);
    if (used.has(f)) continue;
    try {
      if (now - fs.statSync(f).mtimeMs < olderThanMs) continue;
    } catch {
      continue;
    }
    if (rm(f)) n++;
  }
  return n;
}

/** Wires the clean-up to the scheduler's end events and starts the sweeps; returns a stop function. */
export function startRetention(scheduler: Pick<Scheduler, 'on' | 'off'>, opts: RetentionOptions): () => void {
  const { store, log } = opts;
  const ended = (e: { job: JobRecord }): void => {
    if (!store.isOpen) return;
    try {
      const n = cleanUpEndedJob(store, e.job, opts.uploadsDir);
      if (n) log.debug({ job: e.job.id, files: n }, 'retention: removed uploads and snapshots of an ended job');
    } catch (err) {
      log.warn({ job: e.job.id, err }, 'retention: clean-up of an ended job failed');
    }
  };
  const sweep = (): void => {
    if (!store.isOpen) return;
    try {
      const jobs = sweepResults(store, opts.retentionDays);
      const uploads = sweepUploads(store, opts.uploadsDir, 3_600_000);
      if (jobs || uploads) log.info({ jobs, uploads, retentionDays: opts.retentionDays }, 'retention: removed old results and stray uploads');
    } catch (err) {
      log.warn({ err }, 'retention sweep failed');
    }
  };
  scheduler.on('done', ended);
  scheduler.on('failed', ended);
  scheduler.on('cancelled', ended);
  sweep();
  const timer = setInterval(sweep, opts.sweepEveryMs ?? 3_600_000);
  timer.unref();
  return () => {
    clearInterval(timer);
    scheduler.off('done', ended);
    scheduler.off('failed', ended);
    scheduler.off('cancelled', ended);
  };
}
