/**
 * Fair scheduler over per-device queues.
 *
 * p-queue bounds how many jobs run at once on each device (concurrency 1 unless configured); the ORDER is
 * decided here, at the moment a device slot frees up (late binding), by this rule:
 *
 *   1. guild round-robin: among guilds with waiting jobs, the one served least recently goes first
 *      (never served = first; ties: the guild whose oldest waiting job is oldest). All DMs together count
 *      as one pseudo-guild, so a flood of DM users cannot crowd out the servers.
 *   2. user round-robin within that guild: the user served least recently (same tie rule);
 *   3. FIFO within a user (jobs interrupted by a restart go to the front of their user's list).
 *
 * So user A with 5 jobs and user B with 1 alternate A, B, A, A, ...; a big guild gets the same turns as a
 * small one. "Served" stamps are taken when a job starts and are seeded from the store on recover().
 * Exception: jobs that already started once and were interrupted (crash or graceful restart) go before
 * all fresh jobs (among themselves by the same rule), so work in progress finishes before new work starts.
 *
 * Queue positions and ETAs come from a projection of the same rule over all waiting jobs, laid onto the
 * device slots (a slot frees when its running job's remaining cost is done). Cost of a job on a device =
 * remaining steps × (w·h/256²) × (cutn/32) × seconds per unit step of that device (defaults until measured;
 * the median of the device's last 20 measured runs, persisted in the store, afterwards).
 */
import { EventEmitter } from 'node:events';
import PQueue from 'p-queue';
import pino, { type Logger } from 'pino';
import { checkRequest } from '../engine/request-schema.ts';
import { CheckpointError, JobNotFoundError, JobRefusedError } from './errors.ts';
import type { JobStore } from './store.ts';
import type {
  Checkpoint,
  DiscordRef,
  JobAbortReason,
  JobRecord,
  JobRunner,
  JobRunnerContext,
  NewJob,
  QueueEntry,
  SchedulerEventMap,
  SchedulerLimits,
} from './types.ts';

export const DEFAULT_LIMITS: SchedulerLimits = { perUserCap: 3, globalQueueCap: 200, maxInterruptions: 3 };
const LIMIT_KEYS: (keyof SchedulerLimits)[] = ['perUserCap', 'globalQueueCap', 'maxInterruptions'];

/** Seconds per unit step (256×256, cutn 32) before a device has been measured. */
export function defaultSecPerUnitStep(device: string): number {
  return device.startsWith('cuda') ? 0.08 : 1.5;
}

/** (w·h/256²) × (cutn/32): how much one step of this request costs relative to a 256², cutn 32 step. */
export function unitFactor(r: { width: number; height: number; cutn?: number }): number {
  return ((r.width * r.height) / 65536) * ((r.cutn ?? 32) / 32);
}

export interface SchedulerOptions {
  store: JobStore;
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
}

export type CancelResult =
  | { ok: true; job: JobRecord; wasRunning: boolean; stopped: Promise<void> }
  | { ok: false; reason: 'not_found' | 'finished'; job?: JobRecord };

export interface RecoverReport { requeued: string[]; resumed: string[]; failed: { id: string; error: string }[] }

export interface DeviceStatus { device: string; paused: boolean; concurrency: number; running: string[]; secPerUnitStep: number; measured: boolean }

interface Device {
  name: string;
  runner: JobRunner;
  queue: PQueue;
  concurrency: number;
  paused: boolean;
  active: Set<string>;
}

interface Running {
  job: JobRecord;
  device: Device;
  controller: AbortController;
  step: number;
  startStep: number;
  first?: { t: number; step: number };
  last?: { t: number; step: number };
  cancelled: boolean;
  settled: Promise<void>;
}

const DM_GUILD = '@dm';
const guildKey = (j: JobRecord): string => j.guildId ?? DM_GUILD;
const copy = (j: JobRecord): JobRecord => ({ ...j });

export class Scheduler extends EventEmitter<SchedulerEventMap> {
  readonly store: JobStore;
  private readonly log: Logger;
  private readonly devices = new Map<string, Device>();
  private readonly spuDefault: (device: string) => number;
  private readonly spu = new Map<string, { v: number; measured: boolean }>();
  private limitValues: SchedulerLimits;
  /** guild → user → FIFO of waiting jobs */
  private readonly waiting = new Map<string, Map<string, JobRecord[]>>();
  private readonly waitingIds = new Set<string>();
  private readonly running = new Map<string, Running>();
  private readonly guildServed = new Map<string, number>();
  private readonly userServed = new Map<string, number>();
  private tick = 0;
  private lastPositions = new Map<string, number>();
  private started = false;
  private shuttingDown = false;
  private shutdownPromise?: Promise<void>;
  private idleWaiters: (() => void)[] = [];
  private readonly shutdownTimeoutMs: number;
  private readonly closeStore: boolean;

  constructor(opts: SchedulerOptions) {
    super();
    if (!opts.runners.length) throw new Error('Scheduler needs at least one runner (device)');
    this.store = opts.store;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.spuDefault = opts.secPerUnitStep ?? defaultSecPerUnitStep;
    this.shutdownTimeoutMs = opts.shutdownTimeoutMs ?? 30_000;
    this.closeStore = opts.closeStore ?? true;
    const pausedSaved = new Set(this.store.getSetting<string[]>('scheduler.pausedDevices') ?? []);
    for (const runner of opts.runners) {
      if (this.devices.has(runner.device)) throw new Error(`two runners for device ${runner.device}`);
      const concurrency = Math.max(1, opts.concurrency?.[runner.device] ?? 1);
      this.devices.set(runner.device, {
        name: runner.device,
        runner,
        queue: new PQueue({ concurrency }),
        concurrency,
        paused: pausedSaved.has(runner.device),
        active: new Set(),
      });
      this.refreshSpu(runner.device);
    }
    const saved = this.store.getSetting<Partial<SchedulerLimits>>('scheduler.limits') ?? {};
    this.limitValues = { ...DEFAULT_LIMITS, ...opts.limits, ...saved };
  }

  // ------------------------------------------------------------------ limits, pause, status

  get limits(): SchedulerLimits {
    return { ...this.limitValues };
  }

  /** Changes runtime limits and persists them (they survive restarts). */
  setLimits(patch: Partial<SchedulerLimits>): SchedulerLimits {
    for (const k of LIMIT_KEYS) {
      const v = patch[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`${k} must be a whole number ≥ 0`);
    }
    this.limitValues = { ...this.limitValues, ...patch };
    this.store.setSetting('scheduler.limits', this.limitValues);
    return this.limits;
  }

  /** Stops taking new jobs on one device or all (running jobs finish). Persisted. */
  pause(device?: string): void {
    for (const d of this.pick(device)) d.paused = true;
    this.savePaused();
    this.refreshPositions();
  }

  resume(device?: string): void {
    for (const d of this.pick(device)) d.paused = false;
    this.savePaused();
    this.pump();
  }

  private pick(device?: string): Device[] {
    if (device === undefined) return [...this.devices.values()];
    const d = this.devices.get(device);
    if (!d) throw new Error(`unknown device ${device}`);
    return [d];
  }

  private savePaused(): void {
    this.store.setSetting('scheduler.pausedDevices', [...this.devices.values()].filter((d) => d.paused).map((d) => d.name));
  }

  devicesStatus(): DeviceStatus[] {
    return [...this.devices.values()].map((d) => ({
      device: d.name,
      paused: d.paused,
      concurrency: d.concurrency,
      running: [...d.active],
      secPerUnitStep: this.spu.get(d.name)!.v,
      measured: this.spu.get(d.name)!.measured,
    }));
  }

  private refreshSpu(device: string): void {
    const m = this.store.secPerUnitStep(device);
    this.spu.set(device, m !== undefined ? { v: m, measured: true } : { v: this.spuDefault(device), measured: false });
  }

  // ------------------------------------------------------------------ queries

  getJob(id: string): JobRecord | undefined {
    const r = this.running.get(id);
    if (r) return copy(r.job);
    for (const g of this.waiting.values()) for (const list of g.values()) for (const j of list) if (j.id === id) return copy(j);
    return this.store.getJob(id);
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

  /** The user's queued and running jobs. */
  userJobs(userId: string): JobRecord[] {
    const out = this.runningJobs().filter((j) => j.userId === userId);
    for (const g of this.waiting.values()) for (const j of g.get(userId) ?? []) out.push(copy(j));
    return out;
  }

  get waitingCount(): number {
    return this.waitingIds.size;
  }

  private activeCountOf(userId: string): number {
    let n = 0;
    for (const r of this.running.values()) if (!r.cancelled && r.job.userId === userId) n++;
    for (const g of this.waiting.values()) n += g.get(userId)?.length ?? 0;
    return n;
  }

  // ------------------------------------------------------------------ submit, re-roll, cancel

  /** Queues a job. Throws JobRefusedError (with a user-facing message) past the caps or while shutting down. */
  submit(input: NewJob): QueueEntry {
    if (this.shuttingDown) throw new JobRefusedError('shutting_down', 'The bot is restarting: try again in a minute.');
    validateRequest(input.request);
    const { perUserCap, globalQueueCap } = this.limitValues;
    const mine = this.activeCountOf(input.userId);
    if (perUserCap > 0 && mine >= perUserCap)
      throw new JobRefusedError(
        'user_cap',
        `You already have ${mine} job${mine === 1 ? '' : 's'} waiting: wait for one to finish or cancel one with /queue`,
      );
    if (globalQueueCap > 0 && this.waitingIds.size >= globalQueueCap)
      throw new JobRefusedError('global_cap', `The queue is full (${this.waitingIds.size} jobs waiting): try again in a few minutes.`);
    const job = this.store.insertJob(input);
    this.enqueue(job, false);
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
  setDiscordRefs(jobId: string, refs: Partial<Pick<DiscordRef, 'messageId' | 'threadId' | 'interactionToken' | 'channelId'>>): void {
    this.store.setDiscordRefs(jobId, refs);
    const live = this.running.get(jobId)?.job ?? this.findWaiting(jobId);
    if (live) live.discord = { ...live.discord, ...refs };
  }

  /**
   * Cancels a queued job (removed at once) or a running one (its AbortSignal fires; the runner stops within
   * a step; `stopped` resolves when the device is free). The state is 'cancelled' in the store at once.
   * Permission checks (owner or admin) are the caller's.
   */
  cancel(jobId: string): CancelResult {
    const w = this.findWaiting(jobId);
    if (w) {
      this.removeWaiting(w);
      this.store.markCancelled(jobId);
      const job = this.store.getJob(jobId)!;
      this.fire('cancelled', { job, wasRunning: false });
      this.refreshPositions();
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
      this.refreshPositions();
      return { ok: true, job: copy(r.job), wasRunning: true, stopped: r.settled };
    }
    const job = this.store.getJob(jobId);
    return job ? { ok: false, reason: 'finished', job } : { ok: false, reason: 'not_found' };
  }

  // ------------------------------------------------------------------ waiting lists and fairness

  private enqueue(job: JobRecord, front: boolean): void {
    const g = guildKey(job);
    let users = this.waiting.get(g);
    if (!users) this.waiting.set(g, (users = new Map()));
    let list = users.get(job.userId);
    if (!list) users.set(job.userId, (list = []));
    if (front) list.unshift(job);
    else list.push(job);
    this.waitingIds.add(job.id);
  }

  private findWaiting(id: string): JobRecord | undefined {
    if (!this.waitingIds.has(id)) return undefined;
    for (const g of this.waiting.values()) for (const list of g.values()) for (const j of list) if (j.id === id) return j;
    return undefined;
  }

  private removeWaiting(job: JobRecord): void {
    const users = this.waiting.get(guildKey(job))!;
    const list = users.get(job.userId)!;
    list.splice(list.indexOf(job), 1);
    if (!list.length) users.delete(job.userId);
    if (!users.size) this.waiting.delete(guildKey(job));
    this.waitingIds.delete(job.id);
    this.lastPositions.delete(job.id);
  }

  /**
   * The waiting jobs in the order the fairness rule would start them, given the current served stamps.
   * The real dispatch takes the first element of the same order.
   */
  private fairOrder(limit = Infinity): JobRecord[] {
    const gStamp = new Map(this.guildServed);
    const uStamp = new Map(this.userServed);
    let tick = this.tick;
    const cursor = new Map<string, number>(); // userId → index of the user's next job
    const groups = [...this.waiting.entries()].map(([g, users]) => ({ g, users: [...users.entries()] }));
    const out: JobRecord[] = [];
    const head = (userId: string, list: JobRecord[]): JobRecord | undefined => list[cursor.get(userId) ?? 0];
    const stampOf = (m: Map<string, number>, k: string): number => m.get(k) ?? -Infinity;
    // key: [interrupted job waiting to resume ? 0 : 1, served stamp, oldest seq]: lowest wins
    const less = (a: [number, number, number], b: [number, number, number]): boolean =>
      a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
    while (out.length < limit) {
      let best: { g: string; users: [string, JobRecord[]][]; key: [number, number, number] } | undefined;
      for (const grp of groups) {
        let minSeq = Infinity;
        let resumed = 1;
        for (const [u, list] of grp.users) {
          const h = head(u, list);
          if (!h) continue;
          if (h.seq < minSeq) minSeq = h.seq;
          if (h.startedAt) resumed = 0;
        }
        if (minSeq === Infinity) continue;
        const key: [number, number, number] = [resumed, stampOf(gStamp, grp.g), minSeq];
        if (!best || less(key, best.key)) best = { ...grp, key };
      }
      if (!best) break;
      let pickU: { u: string; job: JobRecord; key: [number, number, number] } | undefined;
      for (const [u, list] of best.users) {
        const h = head(u, list);
        if (!h) continue;
        const key: [number, number, number] = [h.startedAt ? 0 : 1, stampOf(uStamp, u), h.seq];
        if (!pickU || less(key, pickU.key)) pickU = { u, job: h, key };
      }
      const { u, job } = pickU!;
      out.push(job);
      cursor.set(u, (cursor.get(u) ?? 0) + 1);
      tick++;
      gStamp.set(best.g, tick);
      uStamp.set(u, tick);
    }
    return out;
  }

  private secPerUnit(device: string): number {
    return this.spu.get(device)!.v;
  }

  /** Waiting jobs with position and ETA: the fair order laid onto the device slots. */
  private project(): QueueEntry[] {
    const order = this.fairOrder();
    const live = [...this.devices.values()].filter((d) => !d.paused);
    const devs = live.length ? live : [...this.devices.values()];
    // a slot is free after its running job's remaining cost; slots share a device's speed
    const lanes: { device: string; slow: number; free: number }[] = [];
    for (const d of devs) {
      const slow = this.secPerUnit(d.name) * d.concurrency;
      const rem = [...d.active].map((id) => this.running.get(id)).filter((r): r is Running => !!r && !r.cancelled)
        .map((r) => Math.max(0, r.job.request.steps - r.step) * unitFactor(r.job.request) * slow);
      for (let i = 0; i < d.concurrency; i++) lanes.push({ device: d.name, slow, free: rem[i] ?? 0 });
    }
    return order.map((job, i) => {
      let lane = lanes[0]!;
      for (const l of lanes) if (l.free < lane.free || (l.free === lane.free && l.slow < lane.slow)) lane = l;
      const etaSec = lane.free;
      lane.free += Math.max(0, job.request.steps - (job.checkpointStep ?? 0)) * unitFactor(job.request) * lane.slow;
      return { job, position: i + 1, etaSec: Math.round(etaSec), etaDoneSec: Math.round(lane.free) };
    });
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

  private refreshPositions(): void {
    this.emitPositions();
  }

  // ------------------------------------------------------------------ dispatch and running

  /** Fills every free, unpaused device slot with the next job by the fairness rule (fastest devices first). */
  private pump(): void {
    if (!this.started || this.shuttingDown) return;
    const devs = [...this.devices.values()].sort((a, b) => this.secPerUnit(a.name) - this.secPerUnit(b.name));
    let moved = false;
    for (;;) {
      const d = devs.find((x) => !x.paused && x.active.size < x.concurrency);
      if (!d || !this.waitingIds.size) break;
      const job = this.fairOrder(1)[0]!;
      this.removeWaiting(job);
      this.tick++;
      this.guildServed.set(guildKey(job), this.tick);
      this.userServed.set(job.userId, this.tick);
      this.launch(job, d);
      moved = true;
    }
    if (moved) this.refreshPositions();
    this.checkIdle();
  }

  private launch(job: JobRecord, d: Device): void {
    const controller = new AbortController();
    let done!: () => void;
    const r: Running = { job, device: d, controller, step: job.checkpointStep ?? 0, startStep: 0, cancelled: false, settled: new Promise<void>((res) => (done = res)) };
    this.running.set(job.id, r);
    d.active.add(job.id);
    void d.queue
      .add(() => this.execute(r))
      .catch((e: unknown) => this.log.error({ err: e, job: job.id }, 'scheduler: unexpected error running job'))
      .finally(() => {
        this.running.delete(job.id);
        d.active.delete(job.id);
        done();
        this.refreshPositions();
        this.pump();
      });
  }

  private async execute(r: Running): Promise<void> {
    const { device, controller } = r;
    const id = r.job.id;
    // start on a later turn of the event loop: submit()/recover() return (and their callers can record
    // the job) before 'started' is emitted
    await new Promise<void>((res) => setImmediate(res));
    if (controller.signal.aborted) {
      if (!r.cancelled) this.store.markQueued(id); // shutdown before it began: stays queued
      return;
    }
    let resume: Checkpoint | undefined;
    try {
      resume = this.store.loadCheckpoint(id);
    } catch (e) {
      this.failJob(r, e instanceof CheckpointError ? checkpointMessage(e) : `Could not load this job's saved progress: ${errText(e)}`, e);
      return;
    }
    this.store.markRunning(id, device.name);
    r.job = this.store.getJob(id)!;
    r.startStep = r.step = resume?.step ?? 0;
    this.fire('started', { job: copy(r.job), device: device.name, ...(resume ? { resumedFromStep: resume.step } : {}) });
    const t0 = Date.now();
    const alive = (): boolean => !r.cancelled && this.store.isOpen && !this.isStoppedForShutdown(r);
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
        this.fire('progress', { ...p, job: copy(r.job), device: device.name });
      },
      onSnapshot: (s) => {
        if (!alive()) return;
        const { snapshotPath } = this.store.saveCheckpoint(id, s.checkpoint, { step: s.step, png: s.png });
        if (s.checkpoint) r.job.checkpointStep = s.checkpoint.step;
        r.job.snapshotPath = snapshotPath!;
        this.fire('snapshot', { job: copy(r.job), step: s.step, png: s.png, path: snapshotPath! });
      },
      onCheckpoint: (c) => {
        // allowed after a shutdown abort (the final checkpoint), not after cancel or once the store is closed
        if (r.cancelled || !this.store.isOpen) return;
        this.store.saveCheckpoint(id, c);
        r.job.checkpointStep = c.step;
      },
    };
    let result: Awaited<ReturnType<JobRunner['run']>> | undefined;
    let error: unknown;
    try {
      result = await Promise.resolve().then(() => device.runner.run(copy(r.job), ctx));
    } catch (e) {
      error = e;
    }
    if (!this.store.isOpen) return;
    if (r.cancelled) {
      this.store.dropCheckpoint(id);
      return;
    }
    if (controller.signal.aborted && !result) {
      // graceful shutdown: back to the queue with its checkpoint; not counted as an interruption
      // (a run that finished while the shutdown arrived keeps its result below)
      this.store.markQueued(id);
      return;
    }
    if (error !== undefined || !result) {
      this.failJob(r, runnerMessage(error), error);
      return;
    }
    try {
      const job = this.store.completeJob(id, {
        ...result,
        metadata: { ...result.metadata, device: device.name, resumedFromStep: r.startStep, interruptions: r.job.interruptions, seconds: (Date.now() - t0) / 1000 },
      });
      this.store.setStep(id, job.request.steps);
      this.store.dropCheckpoint(id);
      this.measure(r);
      const done = this.store.getJob(id)!;
      this.fire('done', {
        job: done,
        resultPath: done.resultPath!,
        ...(done.timelapsePath ? { timelapsePath: done.timelapsePath } : {}),
        ...(done.finalZPath ? { finalZPath: done.finalZPath } : {}),
      });
    } catch (e) {
      this.failJob(r, `Could not save the result: ${errText(e)}`, e);
    }
  }

  private isStoppedForShutdown(r: Running): boolean {
    return r.controller.signal.aborted && (r.controller.signal.reason as JobAbortReason | undefined)?.kind === 'shutdown';
  }

  private measure(r: Running): void {
    if (!r.first || !r.last || r.last.step <= r.first.step) return;
    const secPerStep = (r.last.t - r.first.t) / 1000 / (r.last.step - r.first.step);
    this.store.recordStepTime({ device: r.device.name, jobId: r.job.id, steps: r.last.step - r.first.step, secPerStep, unitFactor: unitFactor(r.job.request) });
    this.refreshSpu(r.device.name);
  }

  private failJob(r: Running, message: string, cause: unknown): void {
    this.log.warn({ job: r.job.id, device: r.device.name, err: cause }, `job failed: ${message}`);
    this.store.markFailed(r.job.id, message);
    const job = this.store.getJob(r.job.id)!;
    this.fire('failed', { job, error: message });
  }

  private fire<K extends keyof SchedulerEventMap>(name: K, ...args: SchedulerEventMap[K]): void {
    try {
      (this.emit as (n: K, ...a: SchedulerEventMap[K]) => boolean)(name, ...args);
    } catch (e) {
      this.log.error({ err: e, event: name }, 'scheduler: an event listener threw');
    }
  }

  private checkIdle(): void {
    if (this.running.size === 0 && (this.waitingIds.size === 0 || !this.started || this.shuttingDown)) {
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
   * Call once at start. Jobs left 'running' by a crash are re-queued at the front of their user's list with
   * interruptions+1 and resume from their last checkpoint; past maxInterruptions they fail with a message.
   * Queued jobs keep their order. A job whose checkpoint is missing or damaged fails alone; the rest go on.
   * Then dispatching starts.
   */
  recover(): RecoverReport {
    const report: RecoverReport = { requeued: [], resumed: [], failed: [] };
    if (this.started) return report;
    const fail = (j: JobRecord, error: string): void => {
      this.store.markFailed(j.id, error);
      report.failed.push({ id: j.id, error });
      this.fire('failed', { job: this.store.getJob(j.id)!, error });
    };
    const active = this.store.listActive();
    for (const j of active) {
      if (this.waitingIds.has(j.id)) continue;
      let job = j;
      if (j.state === 'running') {
        const n = j.interruptions + 1;
        if (n > this.limitValues.maxInterruptions) {
          fail(j, `This job was interrupted ${n} times (the bot stopped while painting it), so it was given up instead of trying again. Re-roll it to start over.`);
          continue;
        }
        this.store.markQueued(j.id, n);
        job = this.store.getJob(j.id)!;
      }
      if (job.startedAt) {
        this.store.sweepJobDir(job.id);
        try {
          const c = this.store.loadCheckpoint(job.id); // validate now so the user hears at once
          if (c) report.resumed.push(job.id);
        } catch (e) {
          this.log.error({ err: e, job: job.id }, 'recover: bad checkpoint');
          fail(job, e instanceof CheckpointError ? checkpointMessage(e) : errText(e));
          continue;
        }
      }
      report.requeued.push(job.id);
      this.enqueue(job, false);
    }
    // within each user: jobs that had started go first (by first start), then creation order
    const rank = (j: JobRecord): [number, number, number] => [j.startedAt ? 0 : 1, j.startedAt ?? 0, j.seq];
    for (const users of this.waiting.values())
      for (const list of users.values())
        list.sort((a, b) => {
          const [x, y] = [rank(a), rank(b)];
          return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
        });
    // seed fairness stamps from who was served recently, so a restart does not favour anyone
    const recent = this.store.db
      .prepare<[], { user_id: string; guild_id: string | null; t: number }>(
        'SELECT user_id, guild_id, MAX(started_at) AS t FROM jobs WHERE started_at IS NOT NULL GROUP BY user_id, guild_id ORDER BY t DESC LIMIT 10000',
      )
      .all()
      .reverse();
    for (const row of recent) {
      this.tick++;
      this.userServed.set(row.user_id, this.tick);
      this.guildServed.set(row.guild_id ?? DM_GUILD, this.tick);
    }
    this.started = true;
    this.refreshPositions();
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
      for (const d of this.devices.values()) {
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

/** The request schema's check (src/engine/request-schema.ts): the engine's ranges, no front end's caps. */
function validateRequest(r: NewJob['request']): void {
  checkRequest(r);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function runnerMessage(e: unknown): string {
  const user = (e as { userMessage?: unknown } | undefined)?.userMessage;
  const text = typeof user === 'string' ? user : `The painter failed: ${errText(e)}`;
  return text.length > 500 ? text.slice(0, 497) + '...' : text;
}

function checkpointMessage(e: CheckpointError): string {
  return `The saved progress of this job was ${e.reason === 'missing' ? 'lost' : 'damaged'}, so it cannot continue. Re-roll it to paint it again.`;
}
