/**
 * The worker side of distributed mode (`npm run worker`): one BullMQ Worker (concurrency 1) per local
 * JobRunner (one engine thread per DEVICES entry), all pulling from the shared queue. A run resumes from
 * the checkpoint in Redis, writes checkpoints and snapshots back (so another worker can take over after a
 * SIGKILL: BullMQ's stalled-job check), reports progress through job.updateProgress, and leaves the result
 * bytes in Redis for the front. Cancel arrives on the control channel and aborts the run (within one step).
 * close() (SIGTERM) aborts running jobs with 'shutdown': the runner checkpoints, the job goes back to the
 * queue (moveToWait, not counted as a stall) and another worker continues it.
 */
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { Checkpoint, JobAbortReason, JobRunner, JobRunnerContext } from '../types.ts';
import {
  DEFAULT_PREFIX,
  encodeResult,
  HEARTBEAT_MS,
  keys,
  packCheckpoint,
  QUEUE_NAME,
  openRedis,
  retry,
  RESULT_TTL_S,
  SNAPSHOT_TTL_S,
  unpackCheckpoint,
  type ControlMessage,
  type RemoteJobData,
  type RemoteProgress,
  type WorkerDeviceInfo,
  type WorkerInfo,
} from './protocol.ts';

export interface ClusterWorkerOptions {
  redisUrl: string;
  runners: JobRunner[];
  workerId?: string;
  prefix?: string;
  logger?: Logger;
  /** BullMQ lock duration (ms, default 30 s): a killed worker's job is taken over after about this long. */
  lockDurationMs?: number;
  /** How often the stalled-job check runs (ms, default 15 s). */
  stalledIntervalMs?: number;
  /** A job that stalls (kills its worker) more than this many times fails (default 3). */
  maxInterruptions?: number;
  /** How long close() waits for running jobs to checkpoint (ms, default 30 s). */
  shutdownTimeoutMs?: number;
}

export interface WorkerStats {
  steps: Record<string, number>; // device → steps done
  jobsDone: Record<string, number>;
  jobsFailed: Record<string, number>;
  secPerStep: Record<string, number>; // device → last measured
}

interface ActiveRun {
  jobId: string;
  controller: AbortController;
  step: number;
  cancelledAtStep?: number; // the last step reported when the cancel arrived
}

interface Slot {
  runner: JobRunner;
  worker: Worker;
  paused: boolean;
  active?: ActiveRun;
}

export class ClusterWorker {
  readonly id: string;
  private readonly k;
  private readonly log: Logger;
  private readonly conn: Redis;
  private readonly sub: Redis;
  private readonly slots: Slot[] = [];
  private heartbeat?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private readonly startedAt = Date.now();
  readonly stats: WorkerStats = { steps: {}, jobsDone: {}, jobsFailed: {}, secPerStep: {} };

  private readonly conns: Redis[] = [];
  private open(): Redis {
    const c = openRedis(this.opts.redisUrl, (e) => this.log.warn({ err: { message: e.message } }, 'worker: redis connection error (retrying)'));
    this.conns.push(c);
    return c;
  }

  constructor(private readonly opts: ClusterWorkerOptions) {
    if (!opts.runners.length) throw new Error('a worker needs at least one device (DEVICES)');
    this.id = opts.workerId ?? `${os.hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    this.k = keys(opts.prefix ?? DEFAULT_PREFIX);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.conn = this.open();
    this.sub = this.open();
    for (const runner of opts.runners) {
      const slot = { runner, paused: false } as Slot;
      slot.worker = new Worker<RemoteJobData>(QUEUE_NAME, (job, token) => this.process(slot, job, token), {
        connection: this.open(),
        prefix: opts.prefix ?? DEFAULT_PREFIX,
        concurrency: 1,
        autorun: false,
        lockDuration: opts.lockDurationMs ?? 30_000,
        stalledInterval: opts.stalledIntervalMs ?? 15_000,
        maxStalledCount: opts.maxInterruptions ?? 3,
        name: `${this.id}/${runner.device}`,
      });
      slot.worker.on('error', (e) => this.log.warn({ err: e, device: runner.device }, 'worker: queue error'));
      this.slots.push(slot);
    }
  }

  /** Subscribes to the control channel, starts the heartbeat, then starts pulling jobs. */
  async start(): Promise<void> {
    await this.sub.subscribe(this.k.control);
    this.sub.on('message', (_ch, text: string) => {
      try {
        this.control(JSON.parse(text) as ControlMessage);
      } catch (e) {
        this.log.warn({ err: e }, 'worker: bad control message');
      }
    });
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), HEARTBEAT_MS);
    for (const s of this.slots) {
      await s.runner.whenReady?.().catch((e: unknown) => this.log.error({ err: e, device: s.runner.device }, 'worker: device cannot paint'));
      if (s.runner.state !== 'failed') void s.worker.run().catch((e: unknown) => this.log.error({ err: e }, 'worker: stopped'));
    }
    this.log.info({ worker: this.id, devices: this.slots.map((s) => s.runner.device) }, 'worker: pulling jobs');
  }

  info(): WorkerInfo {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      seenAt: Date.now(),
      devices: this.slots.map((s): WorkerDeviceInfo => ({
        device: s.runner.device,
        paused: s.paused,
        state: this.closing ? 'closing' : (s.runner.state ?? 'ready'),
        ...(s.active ? { jobId: s.active.jobId, step: s.active.step } : {}),
        ...(this.stats.secPerStep[s.runner.device] ? { secPerStep: this.stats.secPerStep[s.runner.device] } : {}),
      })),
    };
  }

  private async beat(): Promise<void> {
    if (this.closing) return;
    await this.conn.hset(this.k.workers, this.id, JSON.stringify(this.info()));
  }

  private control(m: ControlMessage): void {
    if (m.type === 'cancel') {
      for (const s of this.slots)
        if (s.active?.jobId === m.jobId) {
          s.active.cancelledAtStep = s.active.step;
          s.active.controller.abort({ kind: 'cancelled' } satisfies JobAbortReason);
        }
      return;
    }
    if (m.worker && m.worker !== this.id) return;
    for (const s of this.slots) if (!m.device || m.device === s.runner.device) void this.setPaused(s, m.type === 'pause');
  }

  /** Stops (or resumes) taking new jobs on one device or all; a running job finishes. */
  async setPaused(s: Slot, paused: boolean): Promise<void> {
    if (s.paused === paused) return;
    s.paused = paused;
    if (paused) await s.worker.pause(true);
    else s.worker.resume();
    this.log.info({ device: s.runner.device, paused }, 'worker: device paused/resumed');
    await this.beat().catch(() => undefined);
  }

  pause(device?: string): Promise<void[]> {
    return Promise.all(this.slots.filter((s) => !device || s.runner.device === device).map((s) => this.setPaused(s, true)));
  }

  resume(device?: string): Promise<void[]> {
    return Promise.all(this.slots.filter((s) => !device || s.runner.device === device).map((s) => this.setPaused(s, false)));
  }

  private async process(slot: Slot, job: Job<RemoteJobData>, token?: string): Promise<{ ok: true }> {
    const rec = job.data.job;
    const id = rec.id;
    const device = slot.runner.device;
    if (await retry(() => this.conn.exists(this.k.cancel(id)))) throw new UnrecoverableError('cancelled');
    const saved = await retry(() => this.conn.getBuffer(this.k.ckpt(id)));
    const resume: Checkpoint | undefined = saved ? unpackCheckpoint(saved) : undefined;
    const startStep = resume?.step ?? 0;
    const entry = JSON.stringify({ worker: this.id, device, startStep, at: Date.now() });
    await retry(() => this.conn.multi().rpush(this.k.runs(id), entry).expire(this.k.runs(id), RESULT_TTL_S).exec());
    const run: ActiveRun = { jobId: id, controller: new AbortController(), step: startStep };
    slot.active = run;
    const send = (p: RemoteProgress): void => void job.updateProgress(p).catch(() => undefined);
    send({ kind: 'started', step: startStep, worker: this.id, device });
    // writes go to Redis in order; a failure (Redis restarting) is logged, the run goes on
    let writes: Promise<unknown> = Promise.resolve();
    const write = (what: string, f: () => Promise<unknown>): void => {
      writes = writes.then(f).catch((e: unknown) => this.log.warn({ err: e, job: id }, `worker: could not save the ${what}`));
    };
    let t0: number | undefined;
    const ctx: JobRunnerContext = {
      signal: run.controller.signal,
      ...(resume ? { resume } : {}),
      onProgress: (p) => {
        const now = performance.now();
        if (t0 === undefined) t0 = now;
        else if (p.step > startStep + 1) this.stats.secPerStep[device] = (now - t0) / 1000 / (p.step - startStep - 1);
        this.stats.steps[device] = (this.stats.steps[device] ?? 0) + Math.max(0, p.step - run.step);
        run.step = p.step;
        send({ kind: 'progress', ...p, worker: this.id, device });
      },
      onSnapshot: (s) => {
        if (run.controller.signal.aborted && (run.controller.signal.reason as JobAbortReason).kind === 'cancelled') return;
        const ck = s.checkpoint ? packCheckpoint(s.checkpoint) : undefined;
        write('snapshot', async () => {
          const m = this.conn.multi().set(this.k.snap(id), s.png, 'EX', SNAPSHOT_TTL_S);
          if (ck) m.set(this.k.ckpt(id), ck, 'EX', RESULT_TTL_S);
          await m.exec();
          await job.updateProgress({ kind: 'snapshot', step: s.step, ...(s.checkpoint ? { checkpointStep: s.checkpoint.step } : {}), worker: this.id, device } satisfies RemoteProgress);
        });
      },
      onCheckpoint: (c) => {
        if (run.controller.signal.aborted && (run.controller.signal.reason as JobAbortReason).kind === 'cancelled') return;
        const ck = packCheckpoint(c);
        write('checkpoint', () => this.conn.set(this.k.ckpt(id), ck, 'EX', RESULT_TTL_S));
      },
    };
    let result: Awaited<ReturnType<JobRunner['run']>> | undefined;
    let error: unknown;
    try {
      result = await slot.runner.run({ ...rec, step: startStep, ...(resume ? { checkpointStep: resume.step } : {}) }, ctx);
    } catch (e) {
      error = e;
    } finally {
      slot.active = undefined;
    }
    await writes;
    const reason = run.controller.signal.aborted ? (run.controller.signal.reason as JobAbortReason).kind : undefined;
    if (reason === 'cancelled') {
      const entry = JSON.stringify({ worker: this.id, device, cancelledAtStep: run.cancelledAtStep, stoppedAtStep: run.step, at: Date.now() });
      await this.conn.rpush(this.k.runs(id), entry).catch(() => undefined);
      this.log.info({ job: id, step: run.step }, 'worker: job cancelled');
      throw new UnrecoverableError('cancelled');
    }
    if (reason === 'shutdown' && !result) {
      // hand it back: another worker resumes it from the checkpoint just saved
      await retry(() => job.moveToWait(token), 20_000);
      this.log.info({ job: id, step: run.step }, 'worker: job handed back to the queue');
      throw new WaitingError();
    }
    if (!result) {
      this.stats.jobsFailed[device] = (this.stats.jobsFailed[device] ?? 0) + 1;
      const user = (error as { userMessage?: unknown } | undefined)?.userMessage;
      const text = typeof user === 'string' ? user : `The painter failed: ${error instanceof Error ? error.message : String(error)}`;
      throw new UnrecoverableError(text.length > 500 ? text.slice(0, 497) + '...' : text);
    }
    const r = { ...result, metadata: { ...result.metadata, worker: this.id, workerDevice: device } };
    const fields = encodeResult(r);
    await retry(() => this.conn.multi().hset(this.k.result(id), fields).expire(this.k.result(id), RESULT_TTL_S).del(this.k.snap(id)).exec());
    this.stats.jobsDone[device] = (this.stats.jobsDone[device] ?? 0) + 1;
    return { ok: true };
  }

  /**
   * Graceful stop (SIGTERM): no new jobs; running ones checkpoint and go back to the queue; then the
   * runners close. `handBack: false` waits for running jobs to finish instead.
   */
  close(opts: { handBack?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.heartbeat);
      await this.conn.hdel(this.k.workers, this.id).catch(() => undefined);
      const closing = this.slots.map((s) => s.worker.close());
      if (opts.handBack ?? true) for (const s of this.slots) s.active?.controller.abort({ kind: 'shutdown' } satisfies JobAbortReason);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(closing), new Promise((res) => (timer = setTimeout(res, this.opts.shutdownTimeoutMs ?? 30_000)))]);
      clearTimeout(timer);
      for (const s of this.slots) await s.runner.close?.().catch(() => undefined);

      await this.conn.quit().catch(() => undefined);
    for (const c of this.conns) c.disconnect();
      this.log.info({ worker: this.id }, 'worker: stopped');
    })();
    return this.closing;
  }
}
