/**
 * `npm run bench -- --generators`: one job's step of each generator at its default size and cutouts
 * (VQGAN 256², 32 cutouts; BigGAN-deep-256, 128 cutouts as big-sleep; SIREN 16 × 256 at 256², 4 cutouts
 * × 4 accumulated passes as deep-daze), real sizes with random weights (shapes cost time, not values):
 * the step graph built by the shared loop's code, run with the optimiser and the painter's own update.
 * Memory: the process's peak RSS while each case runs (the first case's high-water mark can stay).
 */
import os from 'node:os';
import { Session, type Device, type HostArray } from '../engine/graph/index.ts';
import { BigganPainter } from '../engine/generate/biggan-painter.ts';
import { sampleCutouts } from '../engine/generate/cutouts.ts';
import { createOptimiser } from '../engine/generate/optimisers.ts';
import type { Painter } from '../engine/generate/painter.ts';
import { Prng } from '../engine/generate/prng.ts';
import { MODEL_DEFAULTS, type GenerateSettings } from '../engine/generate/settings.ts';
import { SirenPainter } from '../engine/generate/siren-painter.ts';
import { buildPainterStepGraph } from '../engine/generate/step-graph.ts';
import { VqganPainter } from '../engine/generate/vqgan-painter.ts';
import { BigganModel, parseBigganConfig } from '../engine/models/biggan.ts';
import { ClipModel, inferClipConfig } from '../engine/models/clip.ts';
import { ParamStore, type ParamArray } from '../engine/models/params.ts';
import { randomClipParams, randomVqganParams } from '../engine/models/random-weights.ts';
import { VqganModel } from '../engine/models/vqgan.ts';
import { BIGGAN_DEEP_256, bigganConfigJson, bigganTensors } from '../engine/models/expected-biggan.ts';
import { peakRssBytes, resetPeakRss } from './peak-rss.ts';

export interface GeneratorBenchOptions {
  device?: Device;
  threads?: number;
  /** timed steps per generator (after one warm-up step) */
  steps?: number;
  /** which generators (default all three) */
  models?: readonly ('vqgan' | 'biggan' | 'siren')[];
}

export interface GeneratorBenchResult {
  model: 'vqgan' | 'biggan' | 'siren';
  size: number;
  cutn: number;
  /** forward/backward passes per step */
  passes: number;
  optimiser: string;
  variables: number;
  graphBuildSec: number;
  sessionCreateSec: number;
  secPerStep: number;
  stepSamples: number[];
  peakRssMB: number;
}

/** BigGAN-deep-256 under the engine's (folded) names, random: weights ±1/√fan-in, statistics 0 and 1. */
function randomBiggan256(seed = 3): BigganModel {
  const rng = new Prng(seed);
  const arrays = new Map<string, ParamArray>();
  for (const { name, shape } of bigganTensors(BIGGAN_DEEP_256)) {
    if (name.endsWith('.weight_u') || name.endsWith('.weight_v')) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.running_vars')) data.fill(1);
    else if (!name.endsWith('.running_means')) {
      const bound = shape.length >= 2 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 0.05;
      for (let i = 0; i < n; i++) data[i] = (rng.uniform() * 2 - 1) * bound;
    }
    arrays.set(name.replace(/\.weight_orig$/, '.weight'), { data, shape: [...shape] });
  }
  return new BigganModel(parseBigganConfig(bigganConfigJson(BIGGAN_DEEP_256), 'random BigGAN-deep-256'), new ParamStore(arrays, 'random BigGAN-deep-256'));
}

function settings(model: 'vqgan' | 'biggan' | 'siren'): GenerateSettings {
  const d = MODEL_DEFAULTS[model];
  return {
    model, prompts: [{ text: 'bench', weight: 1, stop: -Infinity }], imagePrompts: [], noisePrompts: [], width: d.size, height: d.size, steps: 1, seed: 1,
    cutn: d.cutn, cutMethod: 'latest', cutPow: 1, augments: ['Af', 'Pe', 'Ji', 'Er'], lr: d.lr, optimiser: d.optimiser, initWeight: 0, saveEvery: 0, timelapse: false,
  };
}

async function runPainter(clip: ClipModel, painter: Painter, s: GenerateSettings, o: Required<Omit<GeneratorBenchOptions, 'models'>>): Promise<GeneratorBenchResult> {
  resetPeakRss();
  await Promise.all(painter.params.map((p) => p.load()));
  const built = buildPainterStepGraph(clip, painter, { cut: painter.cut, targets: 8 });
  const t1 = performance.now();
  const session = await Session.create(built.model, { device: o.device, threads: o.threads, prepack: false });
  const sessionCreateSec = (performance.now() - t1) / 1000;
  const rng = new Prng(1);
  const z = await painter.init(rng);
  const D = clip.config.embedDim;
  const opt = createOptimiser(s.optimiser, s.lr, z.length, { shapes: painter.paramShapes });
  const targets = new Float32Array(8 * D).map(() => rng.normal());
  const fixed: Record<string, HostArray> = {
    targets, target_sign: Float32Array.of(1, 0, 0, 0, 0, 0, 0, 0), target_coef: Float32Array.of(painter.rowScale, 0, 0, 0, 0, 0, 0, 0), target_stop: new Float32Array(8).fill(-Infinity),
  };
  const samples: number[] = [];
  for (let i = 0; i <= o.steps; i++) {
    const t0 = performance.now();
    const grad = new Float32Array(z.length);
    for (let k = 0; k < painter.accumulate; k++) {
      const out = await session.run({ z, ...fixed, ...painter.feeds?.(i), ...sampleCutouts(rng, painter.cut) });
      const g = out.grad_z as Float32Array;
      for (let p = 0; p < g.length; p++) grad[p] = grad[p]! + g[p]! / painter.accumulate;
    }
    opt.step(z, grad);
    painter.afterStep?.(z);
    if (i > 0) samples.push((performance.now() - t0) / 1000); // step 0 warms up
  }
  await session.release();
  for (const p of painter.params) p.release();
  const peak = peakRssBytes();
  return {
    model: painter.model, size: painter.width, cutn: painter.cut.cutn, passes: painter.accumulate, optimiser: s.optimiser, variables: z.length,
    graphBuildSec: built.buildMs / 1000, sessionCreateSec, secPerStep: samples.reduce((a, b) => a + b, 0) / samples.length, stepSamples: samples, peakRssMB: Math.round(peak / 2 ** 20),
  };
}

/** s/step and peak memory of each generator at its default size (JSON-able). */
export async function benchGenerators(opts: GeneratorBenchOptions = {}): Promise<{ machine: Record<string, unknown>; generators: GeneratorBenchResult[] }> {
  const o = { device: opts.device ?? 'cpu', threads: opts.threads ?? os.availableParallelism(), steps: opts.steps ?? 2 } as Required<Omit<GeneratorBenchOptions, 'models'>>;
  const which = opts.models ?? ['vqgan', 'biggan', 'siren'];
  const clipParams = randomClipParams();
  const clip = new ClipModel(clipParams, inferClipConfig(clipParams, { visionHeads: 12, textHeads: 8 }));
  const generators: GeneratorBenchResult[] = [];
  for (const model of which) {
    const s = settings(model);
    const painter =
      model === 'vqgan'
        ? new VqganPainter(clip, new VqganModel(randomVqganParams({ encoder: false })), s, () => Promise.reject(new Error('no encoder in the bench')))
        : model === 'biggan'
          ? new BigganPainter(clip, randomBiggan256(), s)
          : new SirenPainter(clip, s);
    generators.push(await runPainter(clip, painter, s, o));
  }
  return { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, threads: o.threads, device: o.device, node: process.version }, generators };
}
