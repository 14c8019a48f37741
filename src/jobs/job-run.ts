/**
 * One job's run on one device: load its checkpoint, call the runner, save snapshots and checkpoints as
 * they come, and record the outcome (done with its result, failed with a message, back to the queue on a
 * graceful shutdown, nothing more once cancelled).
 */
import type { Logger } from 'pino';
import { CheckpointError } from './errors.ts';
import { plainError } from './user-errors.ts';
import { unitFactor } from './fairness.ts';
import type { JobStoreApi } from './store-api.ts';
import type { Checkpoint, JobAbortReason, JobRecord, JobRunner, JobRunnerContext, SchedulerEventMap } from './types.ts';

/** A job from the moment it is dispatched to a device until its run settles. */
export interface RunningJob {
  job: JobRecord;
  device: string;
  runner: JobRunner;
  controller: AbortController;
  step: number; // last step reported
  startStep: number; // the step it resumed from
  first?: { t: number; step: number }; // first and last progress reports, for the step time
  last?: { t: number; step: number };
  cancelled: boolean;
  settled: Promise<void>;
}

export interface JobRunDeps {
  store: JobStoreApi;
  log: Logger;
  emit<K extends keyof SchedulerEventMap>(name: K, ...args: SchedulerEventMap[K]): void;
  /** A new step time of the device was recorded. */
  measured(device: string): void;
}

const copy = (j: JobRecord): JobRecord => ({ ...j });

export function isStoppedForShutdown(r: RunningJob): boolean {
  return r.controller.signal.aborted && (r.controller.signal.reason as JobAbortReason | undefined)?.kind === 'shutdown';
}

export async function runJob(r: RunningJob, deps: JobRunDeps): Promise<void> {
  const { store, emit } = deps;
  const { device, controller } = r;
  const id = r.job.id;
  // start on a later turn of the event loop: submit()/recover() return (and their callers can record
  // the job) before 'started' is emitted
  await new Promise<void>((res) => setImmediate(res));
  if (controller.signal.aborted) {
    if (!r.cancelled) store.markQueued(id); // shutdown before it began: stays queued
    return;
  }
  let resume: Checkpoint | undefined;
  try {
    resume = store.loadCheckpoint(id);
  } catch (e) {
    failRun(r, deps, e instanceof CheckpointError ? checkpointMessage(e) : `Could not load this job's saved progress. ${plainError(e, id)}`, e);
    return;
  }
  store.markRunning(id, device);
  r.job = store.getJob(id)!;
  r.startStep = r.step = resume?.step ?? 0;
  emit('started', { job: copy(r.job), device, ...(resume ? { resumedFromStep: resume.step } : {}) });
  const t0 = Date.now();
  const alive = (): boolean => !r.cancelled && store.isOpen && !isStoppedForShutdown(r);
  const ctx: JobRunnerContext = {
    signal: controller.signal,
    ...(resume ? { resume } : {}),
    onProgress: (p) => {
      if (r.cancelled) return;
      const now = performance.now();
      r.step = p.step;
      r.job.step = p.step;
      r.last = { t: now, step: p.step };
      r.first ??= r.last;
      emit('progress', { ...p, job: copy(r.job), device });
    },
    onSnapshot: (s) => {
      if (!alive()) return;
      const { snapshotPath } = store.saveCheckpoint(id, s.checkpoint, { step: s.step, png: s.png });
      if (s.checkpoint) r.job.checkpointStep = s.checkpoint.step;
      r.job.snapshotPath = snapshotPath!;
      emit('snapshot', { job: copy(r.job), step: s.step, png: s.png, path: snapshotPath! });
    },
    onCheckpoint: (c) => {
      // allowed after a shutdown abort (the final checkpoint), not after cancel or once the store is closed
      if (r.cancelled || !store.isOpen) return;
      store.saveCheckpoint(id, c);
      r.job.checkpointStep = c.step;
    },
  };
  let result: Awaited<ReturnType<JobRunner['run']>> | undefined;
  let error: unknown;
  try {
    result = await Promise.resolve().then(() => r.runner.run(copy(r.job), ctx));
  } catch (e) {
    error = e;
  }
  if (!store.isOpen) return;
  if (r.cancelled) {
    store.dropCheckpoint(id);
    return;
  }
  if (controller.signal.aborted && !result) {
    // graceful shutdown: back to the queue with its checkpoint; not counted as an interruption
    // (a run that finished while the shutdown arrived keeps its result below)
    store.markQueued(id);
    return;
  }
  if (error !== undefined || !result) {
    failRun(r, deps, plainError(error, id), error);
    return;
  }
  try {
    const job = store.completeJob(id, {
      ...result,
      metadata: { ...result.metadata, device, resumedFromStep: r.startStep, interruptions: r.job.interruptions, seconds: (Date.now() - t0) / 1000 },
    });
    store.setStep(id, job.request.steps);
    store.dropCheckpoint(id);
    measure(r, deps);
    const done = store.getJob(id)!;
    emit('done', {
      job: done,
      resultPath: done.resultPath!,
      ...(done.timelapsePath ? { timelapsePath: done.timelapsePath } : {}),
      ...(done.finalZPath ? { finalZPath: done.finalZPath } : {}),
    });
  } catch (e) {
    failRun(r, deps, `Could not save the result. ${plainError(e, id)}`, e);
  }
}

function measure(r: RunningJob, deps: JobRunDeps): void {
  if (!r.first || !r.last || r.last.step <= r.first.step) return;
  const secPerStep = (r.last.t - r.first.t) / 1000 / (r.last.step - r.first.step);
  deps.store.recordStepTime({ device: r.device, jobId: r.job.id, steps: r.last.step - r.first.step, secPerStep, unitFactor: unitFactor(r.job.request) });
  deps.measured(r.device);
}

function failRun(r: RunningJob, deps: JobRunDeps, message: string, cause: unknown): void {
  deps.log.warn({ job: r.job.id, device: r.device, err: cause }, `job failed: ${message}`);
  deps.store.markFailed(r.job.id, message);
  const job = deps.store.getJob(r.job.id)!;
  deps.emit('failed', { job, error: message });
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function checkpointMessage(e: CheckpointError): string {
  return `The saved progress of this job was ${e.reason === 'missing' ? 'lost' : 'damaged'}, so it cannot continue. Re-roll it to paint it again.`;
}
