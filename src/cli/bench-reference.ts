/**
 * The PyTorch reference loop (scripts/reference/torch_step.py), run in this bench's run on this
 * machine so ratios compare like with like. Torch is a benchmark tool only: absent, the bench says so.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { clipTensors, vqganTensors } from '../engine/models/expected.ts';

const run = promisify(execFile);

export interface ReferenceResult {
  secPerStep: number;
  stepSamples: number[];
  cpuSecPerStep: number;
  peakRssMB: number;
  baseRssMB: number;
  torch: string;
  threads: number;
  size: number;
  cutn: number;
  params: Record<string, number>;
  /** torch's rate on CLIP's MLP products (768 → 3072 → 768, 4 times) at the step's rows */
  linearGflops: number;
}

/**
 * Float32 parameters generate.py keeps loaded that the step does not use: CLIP's text tower and the
 * VQGAN encoder (the reference script builds only the image tower and the decoder, so it holds these
 * as one tensor to compare memory like with like: Reverie's bench holds the whole CLIP file too).
 */
export function heldUnusedParams(): number {
  const count = (ts: { shape: readonly number[] }[]) => ts.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
  const text = count(clipTensors().filter((t) => !t.name.startsWith('visual.') && t.name !== 'logit_scale'));
  const encoder = count(vqganTensors().filter((t) => t.name.startsWith('encoder.') || t.name.startsWith('quant_conv.')));
  return text + encoder;
}

export async function runReference(repoRoot: string, o: { size: number; cutn: number; steps: number; threads: number }): Promise<ReferenceResult | { skipped: string }> {
  const python = process.env.PYTHON ?? 'python3';
  try {
    await run(python, ['-c', 'import torch'], { timeout: 60_000 });
  } catch {
    return { skipped: `${python} cannot import torch: install it (pip install torch) to measure the reference in the same run` };
  }
  const script = path.join(repoRoot, 'scripts/reference/torch_step.py');
  const args = [script, '--size', String(o.size), '--cutn', String(o.cutn), '--steps', String(o.steps), '--threads', String(o.threads), '--hold-params', String(heldUnusedParams())];
  const { stdout } = await run(python, args, { timeout: 3_600_000, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ReferenceResult;
}
