/**
 * What a new process takes over from the last one. Jobs left 'running' by a crash go back to the queue
 * with interruptions+1 and resume from their last checkpoint (fairness.ts puts them first); past
 * maxInterruptions they fail with a message. Queued jobs keep their order. A job whose checkpoint is
 * missing or damaged fails alone; the rest go on.
 */
import type { Logger } from 'pino';
import { CheckpointError } from './errors.ts';
import { seedServed, type ServedStamps } from './fairness.ts';
import { checkpointMessage } from './job-run.ts';
import { plainError } from './user-errors.ts';
import type { JobStoreApi } from './store-api.ts';
import type { FailedEvent, JobRecord } from './types.ts';

export interface RecoverReport { requeued: string[]; resumed: string[]; failed: { id: string; error: string }[] }

export interface RecoverOptions {
  maxInterruptions: number;
  /** jobs already waiting in this process */
  skip: ReadonlySet<string>;
  /** the stamps so far; recent starts in the store are stamped after them */
  served: ServedStamps;
  log: Logger;
  failed(e: FailedEvent): void;
}

/** How many (user, guild) pairs of start history seed the fairness stamps. */
const SERVICE_HISTORY = 10_000;

export function recoverJobs(store: JobStoreApi, opts: RecoverOptions): { report: RecoverReport; waiting: JobRecord[]; served: ServedStamps } {
  const report: RecoverReport = { requeued: [], resumed: [], failed: [] };
  const waiting: JobRecord[] = [];
  const fail = (j: JobRecord, error: string): void => {
    store.markFailed(j.id, error);
    report.failed.push({ id: j.id, error });
    opts.failed({ job: store.getJob(j.id)!, error });
  };
  for (const j of store.listActive()) {
    if (opts.skip.has(j.id)) continue;
    let job = j;
    if (j.state === 'running') {
      const n = j.interruptions + 1;
      if (n > opts.maxInterruptions) {
        fail(j, `This job was interrupted ${n} times (the bot stopped while painting it), so it was given up instead of trying again. Re-roll it to start over.`);
        continue;
      }
      store.markQueued(j.id, n);
      job = store.getJob(j.id)!;
    }
    if (job.startedAt) {
      store.sweepJobDir(job.id);
      try {
        const c = store.loadCheckpoint(job.id); // validate now so the user hears at once
        if (c) report.resumed.push(job.id);
      } catch (e) {
        opts.log.error({ err: e, job: job.id }, 'recover: bad checkpoint');
        fail(job, e instanceof CheckpointError ? checkpointMessage(e) : plainError(e, job.id));
        continue;
      }
    }
    report.requeued.push(job.id);
    waiting.push(job);
  }
  // so a restart does not favour anyone
  const served = seedServed(store.recentStarts(SERVICE_HISTORY), opts.served);
  return { report, waiting, served };
}
