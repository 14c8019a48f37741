/**
 * Presenter: turns scheduler events into Discord messages.
 *
 * One message per job, edited through the bot token: queue position and ETA while it waits; the newest
 * snapshot, a progress bar, step/steps, speed and ETA while it runs; the final image, prompt, seed, time
 * taken and buttons at the end (plus a 🔁 reaction). A thread on that message collects the snapshots and
 * finally the timelapse. Edits are coalesced per message (CoalescingEditor). Discord trouble never fails a
 * job: a deleted message gets a fresh one for the result, a missing thread permission means no thread
 * (the timelapse then rides on the final message).
 *
 * Jobs restored after a restart re-attach by the message/thread ids in their JobRecord: a view is created
 * lazily from the record for any event about a job the presenter has not seen.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import pino from 'pino';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { EventEmitter } from 'node:events';
import type { JobRecord, SchedulerEventMap } from '../jobs/types.ts';
import { CoalescingEditor } from './editor.ts';
import { errorSummary, isForbidden, isGone, type DiscordPort, type MessageRef, type OutgoingFile, type OutgoingMessage } from './discord-port.ts';
import { EMOJI, renderComponents, renderContent, type ViewState } from './format.ts';
import { fitImage } from './images.ts';
import type { PresenterCounters } from '../observability/counters.ts';
import { DEFAULT_PRESENTER_OPTIONS, type JobView, type PresenterOptions } from './presenter-state.ts';
import { ensureThread, postToThread, type ThreadDeps } from './presenter-threads.ts';

export { DEFAULT_PRESENTER_OPTIONS, type PresenterOptions } from './presenter-state.ts';
export type { PresenterCounters } from '../observability/counters.ts';

const TERMINAL = new Set(['done', 'failed', 'cancelled']);

export class Presenter {
  readonly opts: PresenterOptions;
  readonly counters: PresenterCounters = { edits: 0, editErrors: 0, messagesSent: 0, threadPosts: 0, threadsCreated: 0 };
  private readonly views = new Map<string, JobView>();
  private readonly log: Logger;
  private submittingDepth = 0;
  private readonly listeners: Array<[string, (...a: unknown[]) => void]> = [];
  private readonly cancelledBy = new Map<string, string>();

  constructor(
    private readonly port: DiscordPort,
    private readonly scheduler: Scheduler,
    opts: Partial<PresenterOptions> = {},
    logger?: Logger,
  ) {
    this.opts = { ...DEFAULT_PRESENTER_OPTIONS, ...opts };
    this.log = (logger ?? pino({ level: 'silent' })).child({ mod: 'presenter' });
  }

  // ───────────────────────────── wiring ─────────────────────────────

  attach(): void {
    this.on('queued', (e) => this.onQueued(e.job, e.position, e.etaSec));
    this.on('position', (e) => this.onQueued(e.job, e.position, e.etaSec));
    this.on('started', (e) => this.onStarted(e.job, e.device, e.resumedFromStep));
    this.on('progress', (e) => this.onProgress(e.job, e));
    this.on('snapshot', (e) => this.onSnapshot(e.job, e.step, e.png));
    this.on('done', (e) => void this.onDone(e.job));
    this.on('failed', (e) => this.onFailed(e.job, e.error));
    this.on('cancelled', (e) => this.onCancelled(e.job));
  }

  private on<K extends keyof SchedulerEventMap>(name: K, fn: (...a: SchedulerEventMap[K]) => void): void {
    const f = fn as (...a: unknown[]) => void;
    (this.scheduler as unknown as EventEmitter).on(name, f);
    this.listeners.push([name, f]);
  }

  detach(): void {
    for (const [name, fn] of this.listeners) (this.scheduler as unknown as EventEmitter).off(name, fn);
    this.listeners.length = 0;
  }

  /**
   * Runs a scheduler call that creates a job whose message the caller will provide with bind(): views
   * created meanwhile wait for it instead of posting a message of their own.
   */
  submitting<T>(fn: () => T): T {
    this.submittingDepth++;
    try {
      return fn();
    } finally {
      this.submittingDepth--;
    }
  }

  /**
   * Gives a job its message: `send` posts the current state (an interaction reply, or a channel message)
   * and returns its ids. Afterwards every update is an edit of that message through the bot token.
   */
  async bind(jobId: string, send: (msg: OutgoingMessage) => Promise<MessageRef>): Promise<MessageRef | undefined> {
    const job = this.scheduler.getJob(jobId);
    if (!job) return undefined;
    const v = this.view(job);
    v.bind = 'pending';
    const version = v.version;
    const snapStep = v.snapshot?.step ?? -1;
    let ref: MessageRef;
    try {
      ref = await send(this.render(v, false));
      this.counters.messagesSent++;
    } catch (err) {
      this.log.warn({ job: jobId, err: errorSummary(err) }, 'could not post the job message through the interaction; posting in the channel');
      v.bind = 'none';
      v.editor.request(true);
      return undefined;
    }
    this.setMessage(v, ref);
    v.sentVersion = Math.max(v.sentVersion, version);
    if (snapStep >= 0) v.sentSnapshotStep = Math.max(v.sentSnapshotStep, snapStep);
    if (v.phase === 'running' || TERMINAL.has(v.phase)) this.ensureThread(v);
    if (v.version > v.sentVersion || TERMINAL.has(v.phase)) v.editor.request(TERMINAL.has(v.phase));
    return ref;
  }

  /** The bot is stopping: running jobs say they will carry on after the restart. */
  announceShutdown(): void {
    for (const v of this.views.values()) {
      if (v.phase !== 'running') continue;
      v.restarting = true;
      this.touch(v, true);
    }
  }

  /** Jobs whose message now says they will carry on (queued, or paused by announceShutdown), with their message. */
  carryOnPromises(): { jobId: string; message: MessageRef; prompt: string }[] {
    return [...this.views.values()]
      .filter((v) => (v.phase === 'running' || v.phase === 'queued') && v.message && v.bind === 'bound')
      .map((v) => ({ jobId: v.job.id, message: v.message!, prompt: v.job.request.prompt }));
  }

  /** Remember who cancelled (for the message), before calling scheduler.cancel(). */
  noteCancelledBy(jobId: string, userId: string): void {
    this.cancelledBy.set(jobId, userId);
  }

  /** Forget a job whose message was deleted on purpose. */
  forget(jobId: string): void {
    const v = this.views.get(jobId);
    if (!v) return;
    v.editor.close();
    this.views.delete(jobId);
  }

  /** Resolves when every pending edit and thread post has been sent. */
  async flush(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const vs = [...this.views.values()];
      await Promise.all(vs.flatMap((v) => [v.editor.idle(), v.threadWork]));
      if ([...this.views.values()].every((v) => !v.editor.busy)) return;
    }
  }

  get activeViews(): number {
    return this.views.size;
  }

  // ───────────────────────────── events ─────────────────────────────

  private view(job: JobRecord): JobView {
    let v = this.views.get(job.id);
    if (v) {
      v.job = { ...v.job, ...job };
      return v;
    }
    const created: JobView = {
      job,
      phase: job.state === 'running' ? 'running' : job.state,
      bind: job.discord.messageId ? 'bound' : this.submittingDepth > 0 ? 'pending' : 'none',
      message: job.discord.messageId ? { channelId: job.discord.channelId, messageId: job.discord.messageId } : undefined,
      version: 0,
      sentVersion: 0,
      sentSnapshotStep: -1,
      finalized: false,
      thread: job.discord.threadId ? 'ready' : 'none',
      threadId: job.discord.threadId,
      threadWork: Promise.resolve(),
      pendingPosts: 0,
      lastThreadStep: job.checkpointStep ?? 0,
      finalRetries: 0,
      editor: undefined as unknown as CoalescingEditor,
    };
    created.editor = new CoalescingEditor(
      () => this.sendUpdate(created),
      () => (created.phase === 'queued' ? Math.max(this.opts.minEditIntervalMs, this.opts.queuedEditIntervalMs) : this.opts.minEditIntervalMs),
    );
    this.views.set(job.id, created);
    return created;
  }

  private touch(v: JobView, urgent = false): void {
    v.version++;
    v.editor.request(urgent);
  }

  private onQueued(job: JobRecord, position: number, etaSec: number): void {
    const v = this.view(job);
    if (v.phase !== 'queued') {
      if (v.phase !== 'running') return;
      // back in the queue (graceful shutdown, restart): show it waiting again
      v.phase = 'queued';
    }
    if (v.position === position && Math.abs((v.etaSec ?? 0) - etaSec) < 5 && v.version > 0) return;
    v.position = position;
    v.etaSec = etaSec;
    v.paused = this.scheduler.devicesStatus().every((d) => d.paused);
    this.touch(v);
  }

  private onStarted(job: JobRecord, device: string, resumedFromStep?: number): void {
    const v = this.view(job);
    v.phase = 'running';
    v.restarting = false;
    v.device = device;
    v.resumedFromStep = resumedFromStep;
    v.progress = undefined;
    this.ensureThread(v);
    this.touch(v, true);
  }

  private onProgress(job: JobRecord, p: { step: number; steps: number; itPerSec: number; etaSec: number }): void {
    const v = this.view(job);
    if (TERMINAL.has(v.phase)) return;
    v.phase = 'running';
    v.progress = { step: p.step, steps: p.steps, itPerSec: p.itPerSec, etaSec: p.etaSec };
    this.touch(v);
  }

  private onSnapshot(job: JobRecord, step: number, png: Buffer): void {
    const v = this.view(job);
    if (TERMINAL.has(v.phase)) return;
    v.snapshot = { step, png };
    this.touch(v);
    if (step - v.lastThreadStep >= Math.max(1, this.opts.threadEvery)) {
      v.lastThreadStep = step;
      this.postToThread(v, `Step ${step}/${job.request.steps}`, { name: `step-${String(step).padStart(5, '0')}.png`, data: png }, true);
    }
  }

  private async onDone(job: JobRecord): Promise<void> {
    let final: JobView['final'];
    try {
      const png = await fs.readFile(job.resultPath!);
      const fitted = await fitImage(png, this.opts.attachmentLimit);
      final = { png: { name: `reverie-${job.request.seed}.${fitted.ext}`, data: fitted.data } };
      if (job.timelapsePath) {
        const data = await fs.readFile(job.timelapsePath).catch(() => undefined);
        if (data && data.length <= this.opts.attachmentLimit) final.timelapse = { name: `timelapse${path.extname(job.timelapsePath)}`, data };
      }
    } catch (err) {
      this.log.error({ job: job.id, err: errorSummary(err) }, 'could not read the result files');
    }
    // the phase changes only now, so no edit goes out as "done" without the picture
    const v = this.view(job);
    v.phase = 'done';
    v.final = final;
    v.seconds = job.startedAt && job.finishedAt ? (job.finishedAt - job.startedAt) / 1000 : (job.metadata?.seconds as number | undefined);
    this.touch(v, true);
  }

  private onFailed(job: JobRecord, error: string): void {
    const v = this.view(job);
    v.phase = 'failed';
    v.error = error;
    this.touch(v, true);
  }

  private onCancelled(job: JobRecord): void {
    const v = this.view(job);
    v.phase = 'cancelled';
    v.cancelledBy = this.cancelledBy.get(job.id);
    this.cancelledBy.delete(job.id);
    this.touch(v, true);
  }

  // ───────────────────────────── sending ─────────────────────────────

  private render(v: JobView, forEdit: boolean): OutgoingMessage {
    const state: ViewState = { ...v, noThread: v.thread === 'unavailable' };
    const msg: OutgoingMessage = { content: renderContent(state), components: renderComponents(state) };
    if (v.phase === 'done' && v.final) {
      msg.files = [v.final.png];
      if (v.final.timelapse && v.thread !== 'ready') msg.files.push(v.final.timelapse);
    } else if (!TERMINAL.has(v.phase) && v.snapshot && (!forEdit || v.snapshot.step > v.sentSnapshotStep)) {
      msg.files = [{ name: `snapshot-${String(v.snapshot.step).padStart(5, '0')}.png`, data: v.snapshot.png }];
    }
    return msg;
  }

  private setMessage(v: JobView, ref: MessageRef): void {
    v.message = ref;
    v.bind = 'bound';
    try {
      this.scheduler.setDiscordRefs(v.job.id, { messageId: ref.messageId, channelId: ref.channelId });
    } catch (err) {
      this.log.warn({ job: v.job.id, err: errorSummary(err) }, 'could not record the message id');
    }
  }

  private async sendUpdate(v: JobView): Promise<void> {
    if (v.bind === 'pending') return; // bind() sends the first state and asks again
    const terminal = TERMINAL.has(v.phase);
    const version = v.version;
    const msg = this.render(v, true);
    const snapStep = msg.files && !terminal ? v.snapshot?.step : undefined;
    if (v.bind === 'bound' && v.message) {
      try {
        await this.port.editMessage(v.message, msg);
        this.counters.edits++;
        v.sentVersion = Math.max(v.sentVersion, version);
        if (snapStep !== undefined) v.sentSnapshotStep = snapStep;
      } catch (err) {
        this.counters.editErrors++;
        if (isGone(err) || isForbidden(err)) {
          this.log.warn({ job: v.job.id, err: errorSummary(err) }, 'the job message is gone; the job carries on');
          v.bind = 'gone';
          if (v.thread === 'creating' || v.thread === 'none') v.thread = v.thread === 'none' ? 'unavailable' : v.thread;
        } else {
          this.log.warn({ job: v.job.id, err: errorSummary(err) }, 'editing the job message failed; will retry with the next update');
          if (terminal) {
            if (++v.finalRetries <= 5) setTimeout(() => v.editor.request(true), 2000 * v.finalRetries).unref();
            else this.retire(v);
          }
          return;
        }
      }
    }
    if (v.bind === 'none' || (v.bind === 'gone' && terminal)) {
      // no message (restored job without one, or it was deleted): post a fresh one. While running, a
      // deleted message stays deleted (someone removed it); the result still gets posted at the end.
      if (v.bind === 'gone' && !terminal) return;
      const replyTo = undefined;
      try {
        const ref = await this.port.sendMessage(v.job.discord.channelId, { ...this.render(v, false), replyTo });
        this.counters.messagesSent++;
        this.setMessage(v, ref);
        v.sentVersion = Math.max(v.sentVersion, version);
        if (snapStep !== undefined) v.sentSnapshotStep = snapStep;
        if (v.phase === 'running') this.ensureThread(v);
      } catch (err) {
        this.log.error({ job: v.job.id, err: errorSummary(err) }, 'could not post a message for the job');
        if (terminal) this.retire(v);
        return;
      }
    }
    if (terminal && v.version === version) await this.finalize(v);
  }

  /** After the final state is on the message: 🔁 reaction and timelapse for done jobs; then forget the view. */
  private async finalize(v: JobView): Promise<void> {
    if (v.finalized) return;
    v.finalized = true;
    if (v.phase === 'done' && v.message && v.bind === 'bound') {
      try {
        await this.port.react(v.message, EMOJI.reroll);
      } catch (err) {
        this.log.warn({ job: v.job.id, err: errorSummary(err) }, 'could not add the re-roll reaction');
      }
      if (v.final?.timelapse && v.thread === 'ready') {
        this.postToThread(v, `Timelapse of ${v.job.request.steps} steps`, v.final.timelapse, false);
      }
    }
    this.retire(v);
  }

  private retire(v: JobView): void {
    void v.threadWork.then(() => {
      if (this.views.get(v.job.id) === v && !v.editor.busy) this.views.delete(v.job.id);
    });
  }

  private ensureThread(v: JobView): void {
    ensureThread(this.threadDeps(), v);
  }

  private postToThread(v: JobView, content: string, file: OutgoingFile, droppable: boolean): void {
    postToThread(this.threadDeps(), v, content, file, droppable);
  }

  private threadDeps(): ThreadDeps {
    return { opts: this.opts, port: this.port, counters: this.counters, scheduler: this.scheduler, log: this.log };
  }
}
