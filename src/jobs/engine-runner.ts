import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Checkpoint, JobRecord, JobResult, JobRunner, JobRunnerContext, SpeechRequest, SpeechResult } from './types.ts';
import type { Device } from '../engine/graph/index.ts';
import type { EngineState } from '../engine/generate/generator.ts';
import type { FromWorker, ToWorker, WorkerInit } from '../engine/worker.ts';

/** What the worker thread is started with (model folders, device, threads, Whisper), and the runner's own. */
export interface EngineRunnerOptions extends WorkerInit {
  /** keep snapshots and make a timelapse (default true) */
  timelapse?: boolean;
  onWorkerRestart?(device: string, reason: string): void;
  /** what the engine did differently from what was asked (weights it could not map, …), to log */
  onWarning?(device: string, message: string): void;
}

interface Active {
  jobId: string;
  ctx: JobRunnerContext;
  resolve(r: JobResult): void;
  reject(e: Error): void;
}

const workerUrl = new URL('../engine/worker-entry.mjs', import.meta.url);

/**
 * For health checks: 'starting' (the first worker loads the models), 'ready', 'restarting' (a worker
 * died; its replacement loads the models), 'failed' (the worker could not load the models), 'closed'.
 */
export type EngineRunnerState = 'starting' | 'ready' | 'restarting' | 'failed' | 'closed';

/**
 * A JobRunner backed by one worker thread per device. A crash or an ONNX Runtime error fails only the
 * job that was running, and a fresh worker takes its place.
 */
export class EngineRunner implements JobRunner {
  readonly device: string;
  private worker!: Worker;
  private ready!: Promise<void>;
  private active: Active | null = null;
  private readonly speech = new Map<number, { resolve(r: SpeechResult): void; reject(e: Error): void }>();
  private nextSpeech = 1;
  private closed = false;
  restarts = 0;
  state: EngineRunnerState = 'starting';
  /** why the last worker stopped or failed to load (for health checks) */
  lastError: string | undefined;

  constructor(private readonly opts: EngineRunnerOptions) {
    this.device = opts.device;
    this.spawn();
  }

  get alive(): boolean {
    return !this.closed && this.worker.threadId >= 0;
  }

  private spawn(): void {
    const { clipDir, vqganDir, bigganDir, siren, device, threads, memory, whisper } = this.opts;
    const init: WorkerInit = {
      clipDir,
      vqganDir,
      device,
      ...(bigganDir ? { bigganDir } : {}),
      ...(siren ? { siren } : {}),
      ...(threads ? { threads } : {}),
      ...(memory ? { memory } : {}),
      ...(whisper ? { whisper } : {}),
    };
    const w = new Worker(fileURLToPath(workerUrl), { workerData: init });
    this.worker = w;
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {});
    w.on('message', (m: FromWorker) => {
      if (m.type === 'ready') {
        if (this.worker === w && !this.closed) this.state = 'ready';
        readyResolve();
      } else if (m.type === 'error' && !m.jobId) {
        if (this.worker === w && !this.closed) [this.state, this.lastError] = ['failed', m.message];
        readyReject(new Error(m.message));
      }
      else this.onMessage(m);
    });
    const fail = (reason: string) => {
      if (this.worker !== w) return;
      readyReject(new Error(reason));
      const a = this.active;
      this.active = null;
      a?.reject(new Error(`the engine worker on ${this.device} stopped (${reason}); the job could not finish`));
      for (const p of this.speech.values()) p.reject(new Error(`the engine worker on ${this.device} stopped (${reason}) while transcribing`));
      this.speech.clear();
      if (!this.closed) {
        [this.state, this.lastError] = ['restarting', reason];
        this.restarts++;
        this.opts.onWorkerRestart?.(this.device, reason);
        this.spawn();
      }
    };
    w.on('error', (err) => fail(err.message));
    w.on('exit', (code) => fail(`exit code ${code}`));
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'warning') return void this.opts.onWarning?.(this.device, m.message);
    if (m.type === 'transcript' || m.type === 'transcript-error') {
      const p = this.speech.get(m.reqId);
      this.speech.delete(m.reqId);
      if (m.type === 'transcript-error') p?.reject(new Error(m.message));
      else p?.resolve({ text: m.text, language: m.language, noSpeechProb: m.noSpeechProb, audioSeconds: m.audioSeconds, ms: m.ms, device: this.device });
      return;
    }
    const a = this.active;
    if (!a || !('jobId' in m) || m.jobId !== a.jobId) return;
    switch (m.type) {
      case 'progress':
        a.ctx.onProgress({ step: m.step, steps: m.steps, loss: m.loss, similarity: m.similarity, itPerSec: m.itPerSec, etaSec: m.etaSec });
        break;
      case 'snapshot':
        a.ctx.onSnapshot({ step: m.step, png: Buffer.from(m.png), checkpoint: toCheckpoint(m.state) });
        break;
      case 'aborted':
        if (m.state) a.ctx.onCheckpoint(toCheckpoint(m.state));
        this.active = null;
        a.reject(new Error('cancelled'));
        break;
      case 'done':
        this.active = null;
        a.resolve({
          png: Buffer.from(m.png),
          ...(m.timelapseWebp ? { timelapseWebp: Buffer.from(m.timelapseWebp) } : {}),
          ...(m.timelapseGif ? { timelapseGif: Buffer.from(m.timelapseGif) } : {}),
          finalZ: m.finalZ,
          metadata: { ...m.metadata, stepMs: median(m.stepMs) },
        });
        break;
      case 'error':
        this.active = null;
        a.reject(new Error(m.message));
        break;
    }
  }

  async run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    if (this.closed) throw new Error(`the ${this.device} engine is shut down`);
    if (this.active) throw new Error(`the ${this.device} engine is already running job ${this.active.jobId}`);
    await this.ready;
    // Cancelled or shut down while the worker was still loading: never start it (the worker would not
    // know the job yet and would ignore the cancel).
    if (ctx.signal.aborted) throw new Error('cancelled before it started');
    return new Promise<JobResult>((resolve, reject) => {
      this.active = { jobId: job.id, ctx, resolve, reject };
      const onAbort = () => this.post({ type: 'cancel', jobId: job.id, reason: ctx.signal.reason });
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      this.post({
        type: 'start',
        jobId: job.id,
        request: job.request,
        timelapse: this.opts.timelapse ?? true,
        ...(ctx.resume ? { resume: fromCheckpoint(ctx.resume) } : {}),
      });
    });
  }

  /** Speech to text in this device's worker, beside its paint job (see src/jobs/transcriber.ts). */
  transcribe(req: SpeechRequest): Promise<SpeechResult> {
    if (this.closed) return Promise.reject(new Error(`the ${this.device} engine is shut down`));
    const reqId = this.nextSpeech++;
    return new Promise<SpeechResult>((resolve, reject) => {
      this.speech.set(reqId, { resolve, reject });
      this.post({ type: 'transcribe', reqId, pcm: req.pcm, ...(req.language ? { language: req.language } : {}) });
    });
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /** Kills the worker hard (tests of crash containment). */
  crashForTest(): void {
    this.post({ type: 'crash-for-test' });
  }

  /** Resolves once the current worker has loaded its models. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.state = 'closed';
    await this.worker.terminate();
  }
}

function toCheckpoint(s: EngineState): Checkpoint {
  return { step: s.step, z: s.z, zShape: s.zShape, optimiser: s.optimiser, rng: s.rng };
}

function fromCheckpoint(c: Checkpoint): EngineState {
  return { step: c.step, z: c.z, zShape: c.zShape, optimiser: c.optimiser, rng: c.rng };
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
