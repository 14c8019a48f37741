import type { RefusalCode } from './types.ts';

/** Thrown by Scheduler.submit()/reroll() when a job is not accepted. `userMessage` is safe to show. */
export class JobRefusedError extends Error {
  override readonly name = 'JobRefusedError';
  constructor(
    readonly code: RefusalCode,
    readonly userMessage: string,
  ) {
    super(userMessage);
  }
}

/** A checkpoint the store points at is missing, truncated or fails its checksum. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  constructor(
    readonly jobId: string,
    readonly reason: 'missing' | 'corrupt',
    detail: string,
  ) {
    super(`checkpoint of job ${jobId} is ${reason}: ${detail}`);
  }
}

export class JobNotFoundError extends Error {
  override readonly name = 'JobNotFoundError';
  constructor(readonly jobId: string) {
    super(`no job ${jobId}`);
  }
}

/**
 * The job store cannot be used as it is: damaged (quick_check fails, not a database), or without its
 * schema while the data folder holds jobs of an earlier store. `line` is the one line for the operator.
 */
export class StoreUnusableError extends Error {
  override readonly name = 'StoreUnusableError';
  constructor(
    readonly reason: 'damaged' | 'no-schema' | 'newer',
    readonly dbFile: string,
    readonly line: string,
  ) {
    super(line);
  }
}

/** Another process holds the store's lease (one bot per store). */
export class LeaseHeldError extends Error {
  override readonly name = 'LeaseHeldError';
  constructor(
    readonly holder: { pid: number; host: string; heartbeatAt: number },
    where: string,
  ) {
    super(`another Reverie (pid ${holder.pid} on ${holder.host}) is using this store (${where}); stop it first, or wait for its lease to go stale`);
  }
}
