/**
 * The front side of distributed mode: a JobRunner for the pseudo-device `cluster` whose run() releases the
 * job to the shared BullMQ queue and relays what the workers report (progress events, snapshot and
 * checkpoint bytes, the result) back to the scheduler, which records them and drives the presenter exactly
 * as for a local device. Its capacity (how many jobs the scheduler may release at once) is the number of
 * live, unpaused worker devices seen in the heartbeats; the scheduler releases a job only when a slot is
 * free, choosing it by fairness.ts at that moment, so the cluster runs the same fair order as one process.
 *
 * Cancel: a key plus a control message (the worker aborts within one step). Front shutdown: run() just
 * detaches; the job keeps running on its worker, and after a restart run() finds it by id and attaches.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import type { JobAbortReason, JobRecord, JobResult, JobRunner, JobRunnerContext } from '../types.ts';
import {
  decodeResult,
  DEFAULT_PREFIX,
  HEARTBEAT_MS,
  keys,
  MAX_INTERRUPTIONS_MESSAGE,
  packCheckpoint,
  QUEUE_NAME,
  openRedis,
  bullId,
  recordId,
  retry,
  RESULT_TTL_S,
  STALLED_MARKER,
  unpackCheckpoint,
  WORKER_STALE_MS,
  type ControlMessage,
  type RemoteJobData,
  type RemoteProgress,
  type WorkerInfo,
} from './protocol.ts';

export const CLUSTER_DEVICE = 'cluster';

export interface ClusterRunnerOptions {
  redisUrl: string;
  prefix?: string;
  logger?: Logger;
  /** Must match the workers' maxInterruptions (for the message). */
  maxInterruptions?: number;
  /** How often the front re-reads the heartbeats and the watched jobs' states (ms, default 1000). */
  pollMs?: number;
}

interface Watch {
  job: JobRecord;
  ctx: JobRunnerContext;
  resolve(r: JobResult): void;
  reject(e: Error): void;
  chain: Promise<void>;
  settled: boolean;
  worker?: string;
  device?: string;
}

class RemoteError extends Error {
  constructor(readonly userMessage: string) {
    super(userMessage);
  }
}

export class ClusterRunner implements JobRunner {
  readonly device = CLUSTER_DEVICE;
  private readonly k;
  private readonly log: Logger;
  private readonly conn: Redis;
  private readonly queue: Queue<RemoteJobData>;
  private readonly events: QueueEvents;
  private readonly watching = new Map<string, Watch>();
  private timer?: NodeJS.Timeout;
  private workerList: WorkerInfo[] = [];
  private capacityListeners: ((n: number) => void)[] = [];
  private lastCapacity = -1;
  private closed = false;

  private readonly conns: Redis[] = [];
  private open(): Redis {
    const c = openRedis(this.opts.redisUrl, (e) => this.log.warn({ err: { message: e.message } }, 'cluster: redis connection error (retrying)'));
    this.conns.push(c);
    return c;
  }

  constructor(private readonly opts: ClusterRunnerOptions) {
    const prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.k = keys(prefix);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.conn = this.open();
    this.queue = new Queue<RemoteJobData>(QUEUE_NAME, { connection: this.open(), prefix });
    this.events = new QueueEvents(QUEUE_NAME, { connection: this.open(), prefix });
    this.queue.on('error', (e) => this.log.warn({ err: e }, 'cluster: queue error'));
    this.events.on('error', (e) => this.log.warn({ err: e }, 'cluster: events error'));
    this.events.on('progress', ({ jobId, data }) => this.onProgress(recordId(jobId), data as RemoteProgress));
    const settle = (jobId: string): void => void this.settleFromState(jobId).catch(() => undefined); // the poll tries again
    this.events.on('completed', ({ jobId }) => settle(recordId(jobId)));
    this.events.on('failed', ({ jobId }) => settle(recordId(jobId)));
  }

  /** Reads the heartbeats once and starts polling (call before the scheduler dispatches). */
  async start(): Promise<void> {
    await this.events.waitUntilReady();
    await this.poll();
    this.timer = setInterval(() => void this.poll().catch((e: unknown) => this.log.warn({ err: e }, 'cluster: poll failed')), this.opts.pollMs ?? 1000);
  }

  /** Called with the new capacity whenever it changes (wire it to scheduler.setConcurrency). */
  onCapacity(f: (n: number) => void): void {
    this.capacityListeners.push(f);
    if (this.lastCapacity >= 0) f(this.lastCapacity);
  }

  /** Live workers (heartbeat within WORKER_STALE_MS), with their devices' state. */
  workers(): WorkerInfo[] {
    return this.workerList.map((w) => ({ ...w, devices: w.devices.map((d) => ({ ...d })) }));
  }

  get capacity(): number {
    return Math.max(0, this.lastCapacity);
  }

  get state(): 'ready' | 'starting' | 'closed' {
    return this.closed ? 'closed' : this.lastCapacity > 0 ? 'ready' : 'starting';
  }

  /** Pauses / resumes one worker, one device name (on every worker or one), or all. */
  async pauseRemote(paused: boolean, target: { worker?: string; device?: string } = {}): Promise<void> {
    await this.publish({ type: paused ? 'pause' : 'resume', ...target });
  }

  private publish(m: ControlMessage): Promise<number> {
    return this.conn.publish(this.k.control, JSON.stringify(m));
  }

  private async poll(): Promise<void> {
    const raw = await this.conn.hgetall(this.k.workers);
    const now = Date.now();
    const list: WorkerInfo[] = [];
    for (const [id, text] of Object.entries(raw)) {
      const w = JSON.parse(text) as WorkerInfo;
      if (now - w.seenAt <= WORKER_STALE_MS) list.push(w);
      else if (now - w.seenAt > 10 * WORKER_STALE_MS) await this.conn.hdel(this.k.workers, id);
    }
    this.workerList = list.sort((a, b) => a.id.localeCompare(b.id));
    const cap = list.reduce((n, w) => n + w.devices.filter((d) => !d.paused && d.state !== 'failed' && d.state !== 'closing').length, 0);
    if (cap !== this.lastCapacity) {
      this.lastCapacity = cap;
      for (const f of this.capacityListeners) f(cap);
    }
    for (const id of this.watching.keys()) await this.settleFromState(id);
  }

  async run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    if (this.closed) throw new RemoteError('The bot is restarting: try again in a minute.');
    const id = job.id;
    const result = new Promise<JobResult>((resolve, reject) => {
      this.watching.set(id, { job, ctx, resolve, reject, chain: Promise.resolve(), settled: false });
    });
    const onAbort = (): void => {
      const kind = (ctx.signal.reason as JobAbortReason | undefined)?.kind;
      if (kind === 'cancelled') void this.cancelRemote(id).catch((e: unknown) => this.log.warn({ err: e, job: id }, 'cluster: cancel failed'));
      // 'shutdown' (the front stops): detach only; the job goes on on its worker
      this.settle(id, undefined, new Error(kind === 'cancelled' ? 'cancelled' : 'detached'));
    };
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const stop = (): boolean => this.closed || ctx.signal.aborted;
      const resume = ctx.resume;
      if (resume) {
        const cur = await retry(() => this.conn.getBuffer(this.k.ckpt(id)), 60_000, stop);
        if (!cur || unpackCheckpoint(cur).step < resume.step) await retry(() => this.conn.set(this.k.ckpt(id), packCheckpoint(resume), 'EX', RESULT_TTL_S), 60_000, stop);
      }
      const existing = await retry(() => this.queue.getJob(bullId(id)), 60_000, stop);
      if (existing) this.log.info({ job: id }, 'cluster: attached to a job already in the queue');
      else
        await retry(() => this.queue.add('paint', { job }, { jobId: bullId(id), attempts: 1, removeOnComplete: { age: RESULT_TTL_S }, removeOnFail: { age: RESULT_TTL_S } }), 60_000, stop);
      await this.settleFromState(id).catch(() => undefined); // the poll tries again
    } catch (e) {
      this.settle(id, undefined, e instanceof Error ? e : new Error(String(e)));
    }
    return result.finally(() => ctx.signal.removeEventListener('abort', onAbort));
  }

  private async cancelRemote(id: string): Promise<void> {
    await this.conn.set(this.k.cancel(id), '1', 'EX', RESULT_TTL_S);
    await this.publish({ type: 'cancel', jobId: id });
    const j = await this.queue.getJob(bullId(id));
    if (j && ((await j.getState()) === 'waiting' || (await j.getState()) === 'prioritized')) await j.remove().catch(() => undefined);
  }

  private onProgress(jobId: string, p: RemoteProgress): void {
    const w = this.watching.get(jobId);
    if (!w || w.settled || typeof p !== 'object' || p === null) return;
    w.worker = p.worker;
    w.device = p.device;
    if (p.kind === 'progress') {
      const { kind: _k, worker: _w, device: _d, ...info } = p;
      w.ctx.onProgress(info);
    } else if (p.kind === 'snapshot') {
      w.chain = w.chain.then(async () => {
        const [png, ck] = await Promise.all([this.conn.getBuffer(this.k.snap(jobId)), this.conn.getBuffer(this.k.ckpt(jobId))]);
        if (!png || w.settled) return;
        w.ctx.onSnapshot({ step: p.step, png, ...(ck ? { checkpoint: unpackCheckpoint(ck) } : {}) });
      }).catch((e: unknown) => this.log.warn({ err: e, job: jobId }, 'cluster: could not fetch a snapshot'));
    }
  }

  /** Settles the watch if the BullMQ job completed or failed (events can be missed across restarts). */
  private async settleFromState(id: string): Promise<void> {
    const w = this.watching.get(id);
    if (!w || w.settled) return;
    const j: Job<RemoteJobData> | undefined = await this.queue.getJob(bullId(id));
    if (!j) return;
    const state = await j.getState();
    if (state === 'completed') {
      await w.chain;
      const h = await this.conn.hgetallBuffer(this.k.result(id));
      const r = decodeResult(h as Record<string, Buffer>);
      this.settle(id, r, r ? undefined : new RemoteError('The finished picture was lost before the bot could collect it. Re-roll it to paint it again.'));
    } else if (state === 'failed') {
      const reason = j.failedReason ?? 'unknown error';
      const msg = reason.includes(STALLED_MARKER) ? MAX_INTERRUPTIONS_MESSAGE(this.opts.maxInterruptions ?? 3) : reason;
      this.settle(id, undefined, new RemoteError(msg));
    }
  }

  private settle(id: string, r: JobResult | undefined, e?: Error): void {
    const w = this.watching.get(id);
    if (!w || w.settled) return;
    w.settled = true;
    this.watching.delete(id);
    if (r) w.resolve(r);
    else w.reject(e ?? new Error('no result'));
  }

  /** Which worker and device run a job now (from its last report). */
  placement(jobId: string): { worker?: string; device?: string } | undefined {
    const w = this.watching.get(jobId);
    return w ? { ...(w.worker ? { worker: w.worker } : {}), ...(w.device ? { device: w.device } : {}) } : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const id of [...this.watching.keys()]) this.settle(id, undefined, new Error('detached'));
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.conn.quit().catch(() => undefined);
    for (const c of this.conns) c.disconnect();
  }
}

/** Makes the scheduler's `cluster` device follow the live worker devices, then starts polling. */
export async function attachCluster(scheduler: { setConcurrency(device: string, n: number): void }, cluster: ClusterRunner): Promise<void> {
  cluster.onCapacity((n) => scheduler.setConcurrency(CLUSTER_DEVICE, n));
  await cluster.start();
}
