/**
 * What the job layer and its callers (scheduler, bot, /metrics, /healthz) may ask of a job store: named
 * queries only, no SQL. SQLite implements it (store.ts); a distributed backend (Redis) can implement the
 * same shape.
 */
import type { ServiceRecord } from './fairness.ts';
import type { Lease, LeaseRequest } from './store-lease.ts';
import type { Checkpoint, DiscordRef, JobRecord, JobResult, JobState, NewJob } from './types.ts';

export interface StepTimeSample {
  device: string;
  jobId?: string;
  steps: number; // steps measured
  secPerStep: number;
  unitFactor: number; // (w*h/256²) * (cutn/32) of the job measured
}

export interface DeviceStepStats { device: string; samples: number; medianSecPerUnitStep: number; lastAt: number }

export interface JobQuery { states?: JobState[]; userId?: string; guildId?: string; parentId?: string; limit?: number }

export type DiscordRefPatch = Partial<Pick<DiscordRef, 'messageId' | 'threadId' | 'interactionToken' | 'channelId'>>;

/** Jobs created on one UTC day (YYYY-MM-DD) and how many of them ended each way. */
export interface DayCounts { day: string; total: number; done: number; failed: number; cancelled: number }

/** One measured run: seconds per step, and per unit step (256², cutn 32). */
export interface StepTimeRecord { device: string; secPerStep: number; secPerUnitStep: number }

export interface JobStoreApi {
  readonly isOpen: boolean;
  close(): void;

  // jobs
  insertJob(j: NewJob): JobRecord;
  getJob(id: string): JobRecord | undefined;
  /** The job whose reply message (or thread) this is: for reactions and buttons. */
  findByMessageId(messageId: string): JobRecord | undefined;
  /** Queued and running jobs in creation order. */
  listActive(): JobRecord[];
  /** Newest first; default limit 100. */
  listJobs(q?: JobQuery): JobRecord[];
  setDiscordRefs(id: string, refs: DiscordRefPatch): void;
  /** Only from queued (or running again); a cancelled or finished job is never revived. */
  markRunning(id: string, device: string): void;
  /** Back to the queue (restart recovery, graceful shutdown); the checkpoint stays. */
  markQueued(id: string, interruptions?: number): void;
  setStep(id: string, step: number): void;
  markFailed(id: string, error: string): void;
  markCancelled(id: string): void;
  /** Saves the result files, then marks the job done. */
  completeJob(id: string, result: JobResult): JobRecord;

  // checkpoints and snapshots
  /** Saves a checkpoint and/or the snapshot png of a step, atomically; the previous files go. */
  saveCheckpoint(id: string, c: Checkpoint | undefined, snapshot?: { step: number; png: Buffer }): { checkpointPath?: string; snapshotPath?: string };
  /** The job's last checkpoint; undefined if it never saved one. Throws CheckpointError if it is missing or damaged. */
  loadCheckpoint(id: string): Checkpoint | undefined;
  /** Removes the checkpoint (after done/cancel; the result replaces it). */
  dropCheckpoint(id: string): void;
  /** Deletes files a kill left behind that the job does not point at; returns how many. */
  sweepJobDir(id: string): number;

  // settings (JSON values)
  getSetting<T = unknown>(key: string): T | undefined;
  setSetting(key: string, value: unknown): void;
  allSettings(): Record<string, unknown>;

  // step-time measurements
  recordStepTime(s: StepTimeSample): void;
  /** Median seconds per unit step over the device's last `window` measurements; undefined if none. */
  secPerUnitStep(device: string, window?: number): number | undefined;
  stepStats(window?: number): DeviceStepStats[];
  stepTimesSince(since: number): StepTimeRecord[];

  // reporting
  /** The latest start of each (user, guild) pair, newest first, at most `limit` of them: seeds fairness. */
  recentStarts(limit: number): ServiceRecord[];
  /** Every state with its number of jobs (0 when none). */
  countByState(): Record<JobState, number>;
  /** Jobs created since `since` (ms), per UTC day, oldest day first. */
  jobsPerDay(since: number): DayCounts[];
  /** started − created (ms) of the jobs created since `since` that started. */
  waitTimesSince(since: number): number[];
  /** Finished jobs that ended before `before` (ms) and still point at result files, oldest first (retention). */
  finishedBefore(before: number, limit?: number): JobRecord[];
  /** An ended job's snapshots, checkpoint and temp files go (result, timelapse, final z stay); returns how many files. */
  pruneEndedJob(id: string): number;
  /** Forgets the job's result, timelapse, final z and snapshot paths (after retention removed the files). */
  forgetResultFiles(id: string): void;
  /** Throws (with the reason) unless the store can take a write now; writes nothing. */
  checkWritable(): void;

  // one bot per store
  /** Takes the store's exclusive lease (pid, host, heartbeat) or throws LeaseHeldError; a stale one is taken over. */
  acquireLease(req: LeaseRequest): Lease;
  /** Heartbeat; false when the lease is no longer ours (another process took it over). */
  renewLease(token: string): boolean;
  /** Gives the lease up if it is ours. */
  releaseLease(token: string): void;
  /** The current lease, if any (for `npm run restore`, /healthz). */
  readLease(): Lease | undefined;
}

export type { Lease, LeaseRequest } from './store-lease.ts';
