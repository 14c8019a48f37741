/**
 * The in-process scheduler: waiting jobs, per-device slots, and the public API the bot uses. The ORDER
 * of jobs is fairness.ts's rule, applied at the moment a device slot frees up (late binding); p-queue
 * bounds how many jobs run at once on each device (concurrency 1 unless configured); job-run.ts runs one
 * job. Queue positions and ETAs are fairness.ts's projection of the same order onto the device slots,
 * with seconds per unit step measured per device (the median of its last 20 runs, persisted in the
 * store; defaults until measured).
 */
import { EventEmitter } from 'node:events';
import pino, { type Logger } from 'pino';
import { validateRequest } from './check-request.ts';
import { JobNotFoundError, JobRefusedError } from './errors.ts';
import {
  compareWithinUser,
  defaultSecPerUnitStep,
  fairOrder,
  markServed,
  NEVER_SERVED,
  pickDevice,
  projectQueue,
  type ServedStamps,
} from './fairness.ts';
import { runJob, type JobRunDeps, type RunningJob } from './job-run.ts';
import { recoverJobs, type RecoverReport } from './recovery.ts';
import { Devices, type Device, type DeviceStatus } from './devices.ts';
import { checkLimits, loadLimits, saveLimits } from './scheduler-settings.ts';
import type { DiscordRefPatch, JobStoreApi } from './store-api.ts';
import type { DiscordRef, JobAbortReason, JobRecord, JobRunner, NewJob, QueueEntry, SchedulerEventMap, SchedulerLimits } from './types.ts';

export { DEFAULT_LIMITS } from './scheduler-settings.ts';
export { defaultSecPerUnitStep, unitFactor } from './fairness.ts';
export type { RecoverReport } from './recovery.ts';
export type { DeviceStatus } from './devices.ts';

export interface SchedulerOptions {
  store: JobStoreApi;
  runners: JobRunner[];
  /** Jobs at once per device (default 1). */
  concurrency?: Record<string, number>;
  /** Defaults; limits persisted in the store's settings (set by admins) take precedence. */
  limits?: Partial<SchedulerLimits>;
  secPerUnitStep?: (device: string) => number;
  logger?: Logger;
  /** How long shutdown() waits for aborted runs to checkpoint and stop (default 30 s). */
  shutdownTimeoutMs?: number;
  /** shutdown() closes the store (default true). */
  closeStore?: boolean;
  /** Extra admission checks (disk space, input files): throws JobRefusedError to refuse. */
  admit?: (input: NewJob) => void;
}

export type CancelResult =
  | { ok: true; job: JobRecord; wasRunning: boolean; stopped: Promise<void> }
  | { ok: false; reason: 'not_found' | 'finished'; job?: JobRecord };

const copy = (j: JobRecord): JobRecord => ({ ...j });

export class Scheduler extends EventEmitter<SchedulerEventMap> {
  readonly store: JobStoreApi;
  private readonly log: Logger;
  private readonly devices: Devices;
  private limitValues: SchedulerLimits;
  private readonly waiting = new Map<string, JobRecord>();
  private readonly running = new Map<string, RunningJob>();
  private served: ServedStamps = NEVER_SERVED;
  private lastPositions = new Map<string, number>();
  private started = false;
  private shuttingDown = false;
  private shutdownPromise?: Promise<void>;
  private idleWaiters: (() => void)[] = [];
  private readonly shutdownTimeoutMs: number;
  private readonly closeStore: boolean;
  private readonly runDeps: JobRunDeps;
  private readonly admit: ((input: NewJob) => void) | undefined;

  constructor(opts: SchedulerOptions) {
    super();
    this.store = opts.store;
    this.devices = new Devices(this.store, opts.runners, opts.concurrency, opts.secPerUnitStep ?? defaultSecPerUnitStep);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 30_000;
    this.closeStore = opts.closeStore ?? true;
    this.admit = opts.admit;
    this.limitValues = loadLimits(this.store, opts.limits);
    this.runDeps = { store: this.store, log: this.log, emit: (name, ...args) => this.fire(name, ...args), measured: (d) => this.devices.refreshSpeed(d) };
  }

  // ------------------------------------------------------------------ limits, pause, status

  get limits(): SchedulerLimits {
    return { ...this.limitValues };
  }

  /** Changes runtime limits and persists them (they survive restarts). */
  setLimits(patch: Partial<SchedulerLimits>): SchedulerLimits {
    checkLimits(patch);
    this.limitValues = { ...this.limitValues, ...patch };
    saveLimits(this.store, this.limitValues);
    return this.limits;
  }

  /** Stops taking new jobs on one device or all (running jobs finish). Persisted. */
  pause(device?: string): void {
    this.devices.setPaused(true, device);
    this.emitPositions();
  }

  resume(device?: string): void {
    this.devices.setPaused(false, device);
    this.pump();
  }

  /** Changes how many jobs run at once on a device (the cluster device follows its live workers). */
  setConcurrency(device: string, n: number): void {
    this.devices.setConcurrency(device, n);
    this.emitPositions();
    this.pump();
  }

  devicesStatus(): DeviceStatus[] {
    return this.devices.status();
  }

  // ------------------------------------------------------------------ queries

  getJob(id: string): JobRecord | undefined {
    const live = this.running.get(id)?.job ?? this.waiting.get(id);
    return live ? copy(live) : this.store.getJob(id);
  }

  /** Waiting jobs in the order they are expected to start, with ETAs. */
  queue(): QueueEntry[] {
    return this.project().map((e) => ({ ...e, job: copy(e.job) }));
  }

  runningJobs(): JobRecord[] {
    return [...this.running.values()].filter((r) => !r.cancelled).map((r) => copy(r.job));
  }

  position(jobId: string): QueueEntry | undefined {
    return this.queue().find((e) => e.job.id === jobId);
  }

  /** The user's running jobs, then their waiting ones. */
  userJobs(userId: string): JobRecord[] {
    const waiting = [...this.waiting.values()].filter((j) => j.userId === userId).sort(compareWithinUser);
    return [...this.runningJobs().filter((j) => j.userId === userId), ...waiting.map(copy)];
  }

  get waitingCount(): number {
    return this.waiting.size;
  }

  private activeCountOf(userId: string): number {
    let n = 0;
    for (const r of this.running.values()) if (!r.cancelled && r.job.userId === userId) n++;
    for (const j of this.waiting.values()) if (j.userId === userId) n++;
    return n;
  }

  // ------------------------------------------------------------------ submit, re-roll, cancel

  /** Queues a job. Throws JobRefusedError (with a user-facing message) past the caps or while shutting down. */
  submit(input: NewJob): QueueEntry {
    if (this.shuttingDown) throw new JobRefusedError('shutting_down', 'The bot is restarting: try again in a minute.');
    validateRequest(input.request);
    this.admit?.(input);
    const { perUserCap, globalQueueCap } = this.limitValues;
    const mine = this.activeCountOf(input.userId);
    if (perUserCap > 0 && mine >= perUserCap)
      throw new JobRefusedError(
        'user_cap',
        `You already have ${mine} job${mine === 1 ? '' : 's'} waiting: wait for one to finish or cancel one with /queue`,
      );
    if (globalQueueCap > 0 && this.waiting.size >= globalQueueCap)
      throw new JobRefusedError('global_cap', `The queue is full (${this.waiting.size} jobs waiting): try again in a few minutes.`);
    const job = this.store.insertJob(input);
    this.waiting.set(job.id, job);
    const entry = this.emitPositions(job.id).find((e) => e.job.id === job.id)!;
    this.pump();
    return { ...entry, job: copy(entry.job) };
  }

  /** A new job with the parent's request and a new seed, linked to the parent. Same caps as submit(). */
  reroll(parentId: string, newSeed: number | undefined, userId: string, opts: { userName?: string; discord?: DiscordRef } = {}): QueueEntry {
    const parent = this.store.getJob(parentId);
    if (!parent) throw new JobNotFoundError(parentId);
    const discord: DiscordRef = opts.discord ?? {
      guildId: parent.guildId,
      channelId: parent.discord.channelId,
      ...(parent.discord.threadId ? { threadId: parent.discord.threadId } : {}),
    };
    return this.submit({
      userId,
      ...(opts.userName ? { userName: opts.userName } : {}),
      guildId: discord.guildId,
      discord,
      parentId,
      request: { ...parent.request, seed: newSeed ?? Math.floor(Math.random() * 2 ** 31) },
    });
  }

  /** Records the bot's reply message / thread ids for a job (for edits after restarts, reactions). */
  setDiscordRefs(jobId: string, refs: DiscordRefPatch): void {
    this.store.setDiscordRefs(jobId, refs);
    const live = this.running.get(jobId)?.job ?? this.waiting.get(jobId);
    if (live) live.discord = { ...live.discord, ...refs };
  }

  /**
   * Cancels a queued job (removed at once) or a running one (its AbortSignal fires; the runner stops within
   * a step; `stopped` resolves when the device is free). The state is 'cancelled' in the store at once.
   * Permission checks (owner or admin) are the caller's.
   */
  cancel(jobId: string): CancelResult {
    if (this.waiting.has(jobId)) {
      this.removeWaiting(jobId);
      this.store.markCancelled(jobId);
      const job = this.store.getJob(jobId)!;
      this.fire('cancelled', { job, wasRunning: false });
      this.emitPositions();
      this.checkIdle();
      return { ok: true, job, wasRunning: false, stopped: Promise.resolve() };
    }
    const r = this.running.get(jobId);
    if (r && !r.cancelled) {
      r.cancelled = true;
      this.store.markCancelled(jobId);
      r.job = { ...r.job, state: 'cancelled', finishedAt: Date.now() };
      r.controller.abort({ kind: 'cancelled' } satisfies JobAbortReason);
      this.fire('cancelled', { job: copy(r.job), wasRunning: true });
      this.emitPositions();
      return { ok: true, job: copy(r.job), wasRunning: true, stopped: r.settled };
    }
    const job = this.store.getJob(jobId);
    return job ? { ok: false, reason: 'finished', job } : { ok: false, reason: 'not_found' };
  }

  // ------------------------------------------------------------------ order, positions, dispatch

  private removeWaiting(id: string): void {
    this.waiting.delete(id);
    this.lastPositions.delete(id);
  }

  /** Waiting jobs with position and ETA: the fair order laid onto the device slots. */
  private project(): QueueEntry[] {
    const progress = (id: string): { request: JobRecord['request']; step: number } | undefined => {
      const r = this.running.get(id);
      return r && !r.cancelled ? { request: r.job.request, step: r.step } : undefined;
    };
    return projectQueue(fairOrder([...this.waiting.values()], this.served), this.devices.loads(progress));
  }

  /** Emits 'position' for every waiting job whose position changed (and 'queued' for `newJobId`). */
  private emitPositions(newJobId?: string): QueueEntry[] {
    const entries = this.project();
    const next = new Map<string, number>();
    for (const e of entries) {
      next.set(e.job.id, e.position);
      if (e.job.id === newJobId) this.fire('queued', { ...e, job: copy(e.job) });
      else if (this.lastPositions.get(e.job.id) !== e.position) this.fire('position', { ...e, job: copy(e.job) });
    }
    this.lastPositions = next;
    return entries;
  }

  /** Fills every free, unpaused device slot with the next job by the fairness rule (fastest devices first). */
  private pump(): void {
    if (!this.started || this.shuttingDown) return;
    let moved = false;
    while (this.waiting.size) {
      const name = pickDevice(this.devices.slots());
      if (name === undefined) break;
      const job = fairOrder([...this.waiting.values()], this.served, 1)[0]!;
      this.removeWaiting(job.id);
      this.served = markServed(this.served, job);
      this.launch(job, this.devices.get(name)!);
      moved = true;
    }
    if (moved) this.emitPositions();
    this.checkIdle();
  }

  private launch(job: JobRecord, d: Device): void {
    let done!: () => void;
    const r: RunningJob = {
      job,
      device: d.name,
      runner: d.runner,
      controller: new AbortController(),
      step: job.checkpointStep ?? 0,
      startStep: 0,
      cancelled: false,
      settled: new Promise<void>((res) => (done = res)),
    };
    this.running.set(job.id, r);
    d.active.add(job.id);
    void d.queue
      .add(() => runJob(r, this.runDeps))
      .catch((e: unknown) => this.log.error({ err: e, job: job.id }, 'scheduler: unexpected error running job'))
      .finally(() => {
        this.running.delete(job.id);
        d.active.delete(job.id);
        done();
        this.emitPositions();
        this.pump();
      });
  }

  private fire<K extends keyof SchedulerEventMap>(name: K, ...args: SchedulerEventMap[K]): void {
    try {
      (this.emit as (n: K, ...a: SchedulerEventMap[K]) => boolean)(name, ...args);
    } catch (e) {
      this.log.error({ err: e, event: name }, 'scheduler: an event listener threw');
    }
  }

  private checkIdle(): void {
    if (this.running.size === 0 && (this.waiting.size === 0 || !this.started || this.shuttingDown)) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  /** Resolves when nothing is waiting or running. */
  whenIdle(): Promise<void> {
    return new Promise((res) => {
      this.idleWaiters.push(res);
      this.checkIdle();
    });
  }

  // ------------------------------------------------------------------ recovery and shutdown

  /**
   * Call once at start: re-queues what the last process left (see recovery.ts), seeds the fairness
   * stamps from who was served recently, then starts dispatching.
   */
  recover(): RecoverReport {
    if (this.started) return { requeued: [], resumed: [], failed: [] };
    const { report, waiting, served } = recoverJobs(this.store, {
      maxInterruptions: this.limitValues.maxInterruptions,
      skip: new Set(this.waiting.keys()),
      served: this.served,
      log: this.log,
      failed: (e) => this.fire('failed', e),
    });
    for (const j of waiting) this.waiting.set(j.id, j);
    this.served = served;
    this.started = true;
    this.emitPositions();
    this.pump();
    return report;
  }

  /**
   * Stops taking jobs, aborts running ones with reason 'shutdown' (runners save a final checkpoint), waits
   * for them (up to shutdownTimeoutMs), puts them back in the queue (not counted as interruptions), closes
   * the runners and the store.
   */
  shutdown(): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.shuttingDown = true;
      const runs = [...this.running.values()];
      for (const r of runs) if (!r.controller.signal.aborted) r.controller.abort({ kind: 'shutdown' } satisfies JobAbortReason);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), this.shutdownTimeoutMs)));
      const outcome = await Promise.race([Promise.all(runs.map((r) => r.settled)).then(() => 'ok' as const), timeout]);
      clearTimeout(timer);
      if (outcome === 'timeout') this.log.warn({ jobs: [...this.running.keys()] }, 'shutdown: runs did not stop in time; they resume from their last checkpoint');
      for (const d of this.devices.all()) {
        try {
          await d.runner.close?.();
        } catch (e) {
          this.log.warn({ err: e, device: d.name }, 'shutdown: runner close failed');
        }
      }
      if (this.closeStore) this.store.close();
      this.checkIdle();
    })();
    return this.shutdownPromise;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }
}
