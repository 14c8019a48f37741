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
