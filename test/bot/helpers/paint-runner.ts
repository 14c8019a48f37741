/**
 * A JobRunner for the bot's end-to-end tests until the tiny engine is plugged in: real PNG snapshots
 * (sharp) every saveEvery steps with a checkpoint, resumable, cancellable within a step, a real animated
 * WebP timelapse and a final z. Steps take `stepDelayMs`. `hold(jobId?)` stops jobs at a given step until
 * released, so tests can act mid-job deterministically.
 */
import sharp from 'sharp';
import type { Checkpoint, JobAbortReason, JobRecord, JobResult, JobRunner, JobRunnerContext } from '../../../src/jobs/types.ts';

export interface PaintRunnerOptions {
  device: string;
  stepDelayMs?: number;
  /** paint at most this many pixels per side (keeps PNGs small and fast) */
  maxSide?: number;
}

interface Hold {
  step: number;
  reached: Promise<string>;
  onReached: (jobId: string) => void;
  release: () => void;
  released: Promise<void>;
}

export class PaintRunner implements JobRunner {
  readonly device: string;
  readonly runs: Array<{ jobId: string; startStep: number; endStep: number; outcome: 'done' | 'aborted' }> = [];
  /** job ids in the order they started */
  readonly started: string[] = [];
  private holdSpec: Hold | undefined;

  constructor(private readonly opts: PaintRunnerOptions) {
    this.device = opts.device;
  }

  /** The next job that reaches `step` waits there until release(); `reached` gives its id. */
  holdAt(step: number): { reached: Promise<string>; release: () => void } {
    let onReached!: (id: string) => void;
    let release!: () => void;
    const reached = new Promise<string>((r) => (onReached = r));
    const released = new Promise<void>((r) => (release = r));
    this.holdSpec = { step, reached, onReached, release, released };
    return { reached, release: () => release() };
  }

  async run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    const { steps, seed } = job.request;
    const scale = Math.min(1, (this.opts.maxSide ?? 64) / Math.max(job.request.width, job.request.height));
    const w = Math.max(8, Math.round(job.request.width * scale));
    const h = Math.max(8, Math.round(job.request.height * scale));
    const every = Math.max(1, job.request.saveEvery ?? 10);
    const start = ctx.resume?.step ?? 0;
    const z = ctx.resume ? Float32Array.from(ctx.resume.z) : Float32Array.from([seed % 256, (seed >> 8) % 256, (seed >> 16) % 256]);
    const frames: Buffer[] = [];
    const record = { jobId: job.id, startStep: start, endStep: start, outcome: 'aborted' as 'done' | 'aborted' };
    this.runs.push(record);
    this.started.push(job.id);
    const t0 = performance.now();
    const checkpoint = (step: number): Checkpoint => ({ step, z: Float32Array.from(z), zShape: [3], optimiser: { name: 'none', state: {} }, rng: [seed >>> 0] });

    for (let step = start; step < steps; step++) {
      const hold = this.holdSpec;
      if (hold && step === hold.step) {
        this.holdSpec = undefined;
        hold.onReached(job.id);
        await Promise.race([hold.released, abortedPromise(ctx.signal)]);
      }
      await sleep(this.opts.stepDelayMs ?? 5);
      if (ctx.signal.aborted) {
        if ((ctx.signal.reason as JobAbortReason | undefined)?.kind === 'shutdown') ctx.onCheckpoint(checkpoint(step));
        record.endStep = step;
        throw new Error('aborted');
      }
      z[0] = (z[0]! + 7) % 256;
      z[1] = (z[1]! + 3) % 256;
      const done = step + 1;
      record.endStep = done;
      const secs = (performance.now() - t0) / 1000;
      const itPerSec = (done - start) / Math.max(secs, 1e-6);
      ctx.onProgress({ step: done, steps, loss: 1 / done, itPerSec, etaSec: (steps - done) / itPerSec });
      if (done % every === 0 && done < steps) {
        const png = await paint(w, h, z, done);
        frames.push(png);
        ctx.onSnapshot({ step: done, png, checkpoint: checkpoint(done) });
      }
    }
    const png = await paint(w, h, z, steps);
    frames.push(png);
    record.outcome = 'done';
    return {
      png,
      timelapseWebp: await timelapse(frames, w, h),
      finalZ: { data: Float32Array.from(z), shape: [3] },
      metadata: { runner: 'paint', seed, resumedFrom: start },
    };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
function abortedPromise(signal: AbortSignal): Promise<void> {
  return new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', () => r(), { once: true })));
}

async function paint(w: number, h: number, z: Float32Array, step: number): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      raw[i] = (z[0]! + x * 3) & 255;
      raw[i + 1] = (z[1]! + y * 3) & 255;
      raw[i + 2] = (z[2]! + step) & 255;
    }
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

async function timelapse(frames: Buffer[], w: number, h: number): Promise<Buffer> {
  const raws = await Promise.all(frames.map((f) => sharp(f).removeAlpha().raw().toBuffer()));
  return sharp(Buffer.concat(raws), { raw: { width: w, height: h * frames.length, channels: 3, pageHeight: h } })
    .webp({ loop: 0, delay: frames.map(() => 200), lossless: true })
    .toBuffer();
}
