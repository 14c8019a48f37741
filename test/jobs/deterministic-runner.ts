/**
 * A JobRunner that does real, deterministic work step by step (a small momentum optimisation driven by a
 * seeded xorshift128 PRNG) and checkpoints z, optimiser and PRNG state. Used by the tests and by
 * scripts/load-check.ts until the engine's worker pool is plugged in. Resuming from a checkpoint gives a
 * bit-identical result to an uninterrupted run, so tests can prove that no step was lost or redone.
 */
import { deflateSync } from 'node:zlib';
import type { Checkpoint, JobAbortReason, JobRecord, JobResult, JobRunner, JobRunnerContext } from '../../src/jobs/types.ts';

export interface DeterministicRunnerOptions {
  device: string;
  /** Wall time each step takes (setTimeout; default 0 = a macrotask turn). */
  stepDelayMs?: number;
  /** Extra CPU work per step: iterations of the update over z (default 1). */
  workIters?: number;
  zSize?: number; // default 64
  checkpointEvery?: number; // default 1 (every step)
  snapshotEvery?: number; // default 0 (never); a snapshot carries the checkpoint of its step
  /** Called after each step is computed, before its checkpoint is saved. */
  onStep?: (jobId: string, step: number) => void;
  /** Jobs whose prompt contains this fail (throw) at their first step. */
  failPrompt?: string;
}

class XorShift128 {
  s: Uint32Array;
  constructor(seed: number | number[]) {
    if (Array.isArray(seed)) this.s = Uint32Array.from(seed);
    else {
      // splitmix32 to fill the state from one seed
      this.s = new Uint32Array(4);
      let x = seed >>> 0;
      for (let i = 0; i < 4; i++) {
        x = (x + 0x9e3779b9) >>> 0;
        let z = x;
        z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
        z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
        this.s[i] = (z ^ (z >>> 16)) >>> 0 || 1;
      }
    }
  }
  next(): number {
    const s = this.s;
    let t = s[3]!;
    const x = s[0]!;
    s[3] = s[2]!;
    s[2] = s[1]!;
    s[1] = x;
    t ^= t << 11;
    t ^= t >>> 8;
    s[0] = (t ^ x ^ (x >>> 19)) >>> 0;
    return s[0]! / 4294967296;
  }
}

export class DeterministicRunner implements JobRunner {
  readonly device: string;
  readonly runs: { jobId: string; startStep: number; endStep: number; outcome: 'done' | 'aborted' | 'failed' }[] = [];
  constructor(private readonly opts: DeterministicRunnerOptions) {
    this.device = opts.device;
  }

  async run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    const { steps, seed } = job.request;
    const n = this.opts.zSize ?? 64;
    const lr = job.request.lr ?? 0.05;
    const every = Math.max(1, this.opts.checkpointEvery ?? 1);
    const snapEvery = this.opts.snapshotEvery ?? 0;
    const iters = Math.max(1, this.opts.workIters ?? 1);
    let z: Float32Array, m: Float32Array, rng: XorShift128, start: number;
    if (ctx.resume) {
      z = Float32Array.from(ctx.resume.z);
      m = Float32Array.from(ctx.resume.optimiser.state.m as Float32Array);
      rng = new XorShift128(ctx.resume.rng);
      start = ctx.resume.step;
    } else {
      rng = new XorShift128(seed);
      z = new Float32Array(n).map(() => rng.next() * 2 - 1);
      m = new Float32Array(n);
      start = 0;
    }
    const target = new Float32Array(n).map((_, i) => Math.sin(i + seed));
    const checkpoint = (step: number): Checkpoint => ({
      step,
      z: Float32Array.from(z),
      zShape: [1, n],
      optimiser: { name: 'momentum', state: { m: Float32Array.from(m), beta: 0.9 } },
      rng: Array.from(rng.s),
    });
    const record = { jobId: job.id, startStep: start, endStep: start, outcome: 'aborted' as 'done' | 'aborted' | 'failed' };
    this.runs.push(record);
    const t0 = performance.now();
    let loss = 0;
    for (let step = start; step < steps; step++) {
      await sleep(this.opts.stepDelayMs ?? 0);
      if (ctx.signal.aborted) {
        if ((ctx.signal.reason as JobAbortReason | undefined)?.kind === 'shutdown') ctx.onCheckpoint(checkpoint(step));
        record.endStep = step;
        throw new Error('aborted');
      }
      if (this.opts.failPrompt && job.request.prompt.includes(this.opts.failPrompt)) {
        record.outcome = 'failed';
        throw new Error(`engine blew up at step ${step}`);
      }
      for (let it = 0; it < iters; it++) {
        loss = 0;
        for (let i = 0; i < n; i++) {
          const g = z[i]! - target[i]! + 0.1 * (rng.next() - 0.5);
          m[i] = 0.9 * m[i]! + g;
          z[i] = z[i]! - lr * m[i]!;
          loss += g * g;
        }
      }
      loss /= n;
      const done = step + 1;
      record.endStep = done;
      this.opts.onStep?.(job.id, step);
      const secs = (performance.now() - t0) / 1000;
      const itPerSec = (done - start) / Math.max(secs, 1e-6);
      ctx.onProgress({ step: done, steps, loss, itPerSec, etaSec: (steps - done) / itPerSec });
      if (snapEvery > 0 && done % snapEvery === 0) ctx.onSnapshot({ step: done, png: zToPng(z), checkpoint: checkpoint(done) });
      else if (done % every === 0 && done < steps) ctx.onCheckpoint(checkpoint(done));
    }
    record.outcome = 'done';
    return {
      png: zToPng(z),
      finalZ: { data: Float32Array.from(z), shape: [1, n] },
      metadata: { runner: 'deterministic', loss, zChecksum: checksum(z), resumedFrom: start },
    };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** FNV-1a over the float bits: equal only when z is bit-identical. */
export function checksum(z: Float32Array): string {
  const b = new Uint8Array(z.buffer, z.byteOffset, z.byteLength);
  let h = 0x811c9dc5;
  for (const x of b) h = Math.imul(h ^ x, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

// ---- a real (tiny, grayscale) PNG of z, so results are viewable files ----

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
export function zToPng(z: Float32Array): Buffer {
  const side = Math.ceil(Math.sqrt(z.length));
  const raw = Buffer.alloc(side * (side + 1));
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      const v = z[y * side + x] ?? 0;
      raw[y * (side + 1) + 1 + x] = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
