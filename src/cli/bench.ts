/**
 * npm run bench [-- --steps N --threads T --device cpu|cuda:N --cut-method latest --no-reference]:
 * one VQGAN+CLIP step at the real sizes (ViT-B/32, f16_16384) with random weights, and the PyTorch
 * reference loop (scripts/reference/torch_step.py) in the same run when torch is installed. Prints one
 * JSON object: everything in it was measured in this run, on this machine.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDevice, type Device } from '../engine/graph/index.ts';
import type { CutMethod } from '../engine/generate/cutouts.ts';
import { ClipModel, inferClipConfig } from '../engine/models/clip.ts';
import { randomClipParams, randomVqganParams } from '../engine/models/random-weights.ts';
import { VqganModel } from '../engine/models/vqgan.ts';
import { runReference } from './bench-reference.ts';
import { linearGflops, matmulGflops, runStepCase, type StepCase } from './bench-step.ts';
import { benchGenerators } from './bench-generators.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** the goals, as ratios to the reference measured in the same run */
const TARGETS = { secPerStep: 0.65, peakRss: 0.8 };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(3));

async function main(): Promise<void> {
  // Whisper's seconds per 30-second window instead (src/cli/bench-whisper.ts)
  if (process.argv.includes('--whisper')) return void process.stdout.write(`${JSON.stringify(await (await import('./bench-whisper.ts')).benchWhisper(process.argv), null, 2)}\n`);
  const steps = Number(arg('steps', '5'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const method = arg('cut-method', 'latest') as CutMethod;
  const device: Device = parseDevice(arg('device', 'cpu'));
  const memory = arg('engine-memory', 'fast');
  if (memory !== 'lean' && memory !== 'fast') throw new Error(`--engine-memory must be lean or fast, not "${memory}"`);
  if (process.argv.includes('--generators')) return void process.stdout.write(JSON.stringify(await benchGenerators({ device, threads: Number(arg('threads', String(os.availableParallelism()))), steps: Number(arg('steps', '2')) }), null, 2) + '\n');
  const t0 = performance.now();
  const clipParams = randomClipParams();
  const clip = new ClipModel(clipParams, inferClipConfig(clipParams, { visionHeads: 12, textHeads: 8 }));
  const vqgan = new VqganModel(randomVqganParams({ encoder: false }));
  const weightsSec = (performance.now() - t0) / 1000;
  // the measured case first, while this process has held no other session
  const cases: StepCase[] = [await runStepCase(clip, vqgan, { size: 256, cutn: 32, method, steps, profile: true, threads, device, memory })];
  cases.push(await runStepCase(clip, vqgan, { size: 256, cutn: 8, method, steps, profile: false, threads, device, memory }));
  const machineGflops = await matmulGflops(threads, device);
  const clipLinearGflops = await linearGflops(threads, device, memory, 32 * 50);
  const main32 = cases[0]!;
  const reference = process.argv.includes('--no-reference') || device !== 'cpu'
    ? { skipped: device !== 'cpu' ? 'the PyTorch reference runs on the CPU only' : '--no-reference' }
    : await runReference(repoRoot, { size: 256, cutn: 32, steps, threads });
  const vsReference =
    'secPerStep' in reference
      ? {
          secPerStep: ratio(main32.secPerStep, reference.secPerStep),
          peakRss: ratio(main32.peakRssMB, reference.peakRssMB),
          stepPeakRss: ratio(main32.stepPeakRssMB, reference.peakRssMB),
          // the ratio if nothing but the step's matrix products and convolutions took time (as profiled),
          // and if all its FLOPs ran at the plain MatMul rate measured above
          ...(main32.matrixOpSec ? { matrixOpsAlone: ratio(main32.matrixOpSec, reference.secPerStep) } : {}),
          flopsAtMatmulRate: ratio(main32.gflopPerStep / machineGflops, reference.secPerStep),
          targets: TARGETS,
          meetsSpeed: main32.secPerStep / reference.secPerStep <= TARGETS.secPerStep,
          meetsMemory: main32.peakRssMB / reference.peakRssMB <= TARGETS.peakRss,
        }
      : undefined;
  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, threads, node: process.version, device, engineMemory: memory },
    models: { clip: 'ViT-B/32 (random weights)', vqgan: 'f16_16384 decoder (random weights)', clipParamsMB: clipParams.bytes() / 2 ** 20, vqganParamsMB: vqgan.params.bytes() / 2 ** 20 },
    weightsSec,
    cases,
    machineMatmulGflops: Number(machineGflops.toFixed(1)),
    /** CLIP's MLP products at a 32-cutout step's rows (reference.linearGflops: the same in torch) */
    clipLinearGflops,
    /** the step's matrix/conv rate as a share of a plain large MatMul's on this machine, same run */
    efficiency: Number((main32.gflopsPerSec / machineGflops).toFixed(3)),
    reference,
    ...(vsReference ? { vsReference } : {}),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    totalSec: (performance.now() - t0) / 1000,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
});
