/**
 * BigGAN-deep at a release size (default 256) with random weights, written as a legacy torch.save file
 * under the release's key names (src/engine/models/expected-biggan.ts) and read back through the real loader:
 * file load time and memory, the official forward, and big-sleep's image with its gradient checked
 * against central finite differences along the gradient. Used by test/engine/models/real-size-biggan.test.ts
 * and scripts/real-size-biggan.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Graph, Session, countFlops, grad, mul, serialize, sumAll, type Device, type HostArray } from '../../src/engine/graph/index.ts';
import { BigganModel } from '../../src/engine/models/biggan.ts';
import { bigSleepImage } from '../../src/engine/models/bigsleep.ts';
import { BIGGAN_DEEP_256, bigganConfigJson, bigganTensors, type BigganHyper } from '../../src/engine/models/expected-biggan.ts';
import { PyOrderedDict, PyTensor, writeTorchLegacy } from '../engine/weights/helpers.ts';
import { Rng, numel } from './model-keys.ts';

export interface BigganRealSizeOptions {
  hyper?: BigganHyper;
  device?: Device;
  /** finite-difference step along the unit gradient direction of (normu, cls) */
  step?: number;
  log?: (line: string) => void;
}

export interface BigganRealSizeReport {
  size: number;
  tensors: number;
  fileMiB: number;
  seconds: { write: number; load: number; build: number; session: number; run: number; fd: number };
  /** resident memory: before loading, peak while loading, and peak over the whole check */
  rssMiB: { beforeLoad: number; peakLoad: number; peak: number };
  /** ArrayBuffer memory the loaded model holds (its folded weights and statistics) */
  modelMiB: number;
  gflop: { forward: number; bigSleepWithGradient: number };
  forward: { shape: readonly number[]; min: number; max: number; finite: boolean };
  bigSleep: { shape: readonly number[]; min: number; max: number; finite: boolean; loss: number; gradNorm: number; gradFinite: boolean };
  fd: { step: number; analytic: number; numeric: number; relError: number };
}

/** torch-like init, with norms and statistics perturbed around 1 / 0; u, v are fixed afterwards. */
function initStd(name: string, shape: number[]): { std: number; mean?: number } {
  if (name === 'embeddings.weight') return { std: 0.05 };
  if (name.endsWith('.gamma')) return { std: 0.05, mean: 0.2 };
  if (name.endsWith('running_means')) return { std: 0.05 };
  if (name.endsWith('running_vars')) return { std: 0.05, mean: 1 };
  if (name === 'generator.bn.weight') return { std: 0.05, mean: 1 };
  if (name.endsWith('.bias')) return { std: 0.02 };
  if (name.endsWith('.weight_orig')) return { std: 1 / Math.sqrt(3 * numel(shape.slice(1))) };
  return { std: 1 }; // weight_u / weight_v, replaced below
}

/**
 * Random weights under the release names, with weight_u / weight_v from a few power iterations (as a
 * trained file holds them), so each folded weight has a spectral norm near 1: random u and v would divide
 * by a much smaller u · (W v), and the activations of 12 blocks would grow until tanh saturates.
 */
export function randomBigganWeights(h: BigganHyper, seed = 5, iterations = 6): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of bigganTensors(h)) {
    const { std, mean = 0 } = initStd(name, shape);
    out.set(name, rng.fillUniform(new Float32Array(numel(shape)), std, mean));
  }
  for (const [name, w] of out) {
    if (!name.endsWith('.weight_orig')) continue;
    const base = name.slice(0, -'.weight_orig'.length);
    const u = new Float64Array(out.get(`${base}.weight_u`)!);
    const v = new Float64Array(out.get(`${base}.weight_v`)!);
    const rows = u.length;
    const cols = v.length;
    for (let it = 0; it < iterations; it++) {
      // v = Wᵀu / ‖Wᵀu‖, u = W v / ‖W v‖
      v.fill(0);
      for (let i = 0; i < rows; i++) for (let j = 0, ui = u[i]!, o = i * cols; j < cols; j++) v[j]! += w[o + j]! * ui;
      scale(v, 1 / norm(v));
      for (let i = 0; i < rows; i++) {
        let acc = 0;
        for (let j = 0, o = i * cols; j < cols; j++) acc += w[o + j]! * v[j]!;
        u[i] = acc;
      }
      scale(u, 1 / norm(u));
    }
    out.get(`${base}.weight_u`)!.set(u);
    out.get(`${base}.weight_v`)!.set(v);
  }
  return out;
}

function scale(a: Float64Array, k: number): void {
  for (let i = 0; i < a.length; i++) a[i]! *= k;
}

/** config.json + pytorch_model.bin (legacy format) in dir; returns the weight file's size in bytes. */
export function writeRandomBiggan(dir: string, h: BigganHyper, seed = 5): number {
  const arrays = randomBigganWeights(h, seed);
  const entries: [string, PyTensor][] = [];
  const storages: Record<string, Float32Array> = {};
  let key = 94_000_000_000_000;
  for (const { name, shape } of bigganTensors(h)) {
    const k = String(key++);
    const stride = shape.map((_, i) => numel(shape.slice(i + 1)));
    entries.push([name, new PyTensor({ key: k, type: 'FloatStorage', numel: numel(shape), view: null }, 0, shape, stride)]);
    storages[k] = arrays.get(name)!;
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(bigganConfigJson(h), null, 2));
  return writeTorchLegacy(path.join(dir, 'pytorch_model.bin'), new PyOrderedDict(entries), storages);
}

const now = () => performance.now() / 1000;
function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
const range = (a: Float32Array) => {
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max, finite: a.every(Number.isFinite) };
};

async function run(g: Graph, feeds: Record<string, HostArray>, device: Device): Promise<{ out: Record<string, Float32Array>; session: number; run: number }> {
  const t0 = now();
  const s = await Session.create(serialize(g), { device });
  const t1 = now();
  try {
    const out = (await s.run(feeds)) as Record<string, Float32Array>;
    return { out, session: t1 - t0, run: now() - t1 };
  } finally {
    await s.release();
  }
}

export async function bigganRealSizeCheck(opts: BigganRealSizeOptions = {}): Promise<BigganRealSizeReport> {
  const h = opts.hyper ?? BIGGAN_DEEP_256;
  const device = opts.device ?? 'cpu';
  const log = opts.log ?? (() => {});
  const step = opts.step ?? 0.05;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-biggan-real-'));
  let peak = process.memoryUsage().rss;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
  const timer = setInterval(sample, 50);
  timer.unref();
  try {
    const t0 = now();
    const bytes = writeRandomBiggan(dir, h);
    const tWrite = now() - t0;
    log(`wrote ${(bytes / 2 ** 20).toFixed(0)} MiB in ${tWrite.toFixed(1)} s`);
    // collect the generated arrays first, so the load's own memory shows
    v8.setFlagsFromString('--expose-gc');
    (vm.runInNewContext('gc') as () => void)();
    const beforeLoad = process.memoryUsage().rss;
    const peakBefore = peak;
    peak = beforeLoad;
    const t1 = now();
    const model = await BigganModel.load(dir);
    sample();
    const tLoad = now() - t1;
    const modelBytes = model.params.bytes();
    const peakLoad = peak;
    peak = Math.max(peak, peakBefore);
    log(`loaded in ${tLoad.toFixed(1)} s; ${(modelBytes / 2 ** 20).toFixed(0)} MiB of weights; rss ${(beforeLoad / 2 ** 20).toFixed(0)} → peak ${(peakLoad / 2 ** 20).toFixed(0)} MiB`);

    const rng = new Rng(7);
    const { zDim, numClasses } = model.config;
    const s = model.imageSize;
    const t2 = now();
    // the official forward: one truncated sample of class 1
    const gf = new Graph();
    const fwd = model.generate(gf, gf.input('z', [1, zDim]), gf.input('classes', [1, numClasses]), 0.4);
    gf.output(fwd, 'image');
    // big-sleep: image, loss = sum(image · probe), gradients
    const L = model.numLatents;
    const gb = new Graph();
    const n = gb.input('normu', [L, zDim]);
    const c = gb.input('cls', [L, numClasses]);
    const img = bigSleepImage(gb, model, n, c);
    const loss = sumAll(mul(img, gb.input('probe', [1, 3, s, s])));
    const [gn, gc] = grad(loss, [n, c]);
    gb.output(img, 'image');
    gb.output(loss, 'loss');
    gb.output(gn!, 'grad_normu');
    gb.output(gc!, 'grad_cls');
    const tBuild = now() - t2;

    const z = Float32Array.from({ length: zDim }, () => Math.max(-2, Math.min(2, rng.normal())) * 0.4);
    const classes = new Float32Array(numClasses);
    classes[1] = 1;
    const a = await run(gf, { z, classes }, device);
    sample();
    const normu = Float32Array.from({ length: L * zDim }, () => rng.normal());
    const cls = Float32Array.from({ length: L * numClasses }, () => -3.9 + 0.3 * rng.normal());
    const probe = rng.fillUniform(new Float32Array(3 * s * s), 1 / Math.sqrt(3 * s * s));
    const b = await run(gb, { normu, cls, probe }, device);
    sample();
    log(`forward: session ${a.session.toFixed(1)} s, run ${a.run.toFixed(1)} s; big-sleep + gradient: session ${b.session.toFixed(1)} s, run ${b.run.toFixed(1)} s`);

    // central differences of the loss along the unit gradient direction, on a forward-only graph
    const gAll = [...b.out.grad_normu!, ...b.out.grad_cls!];
    const gNorm = norm(gAll);
    const g2 = new Graph();
    const n2 = g2.input('normu', [L, zDim]);
    const c2 = g2.input('cls', [L, numClasses]);
    g2.output(sumAll(mul(bigSleepImage(g2, model, n2, c2), g2.input('probe', [1, 3, s, s]))), 'loss');
    const t3 = now();
    const fdSession = await Session.create(serialize(g2), { device });
    const losses: number[] = [];
    try {
      for (const sign of [1, -1]) {
        const shift = (x: Float32Array, off: number) => Float32Array.from(x, (v, i) => v + (sign * step * gAll[off + i]!) / gNorm);
        const r = await fdSession.run({ normu: shift(normu, 0), cls: shift(cls, normu.length), probe });
        losses.push((r.loss as Float32Array)[0]!);
      }
    } finally {
      sample();
      await fdSession.release();
    }
    const tFd = now() - t3;
    const numeric = (losses[0]! - losses[1]!) / (2 * step);
    const fd = { step, analytic: gNorm, numeric, relError: Math.abs(gNorm - numeric) / Math.abs(numeric) };
    log(`finite differences: ${JSON.stringify(fd)} in ${tFd.toFixed(1)} s`);

    const mib = (x: number) => Math.round(x / 2 ** 20);
    return {
      size: s,
      tensors: bigganTensors(h).length,
      fileMiB: mib(bytes),
      seconds: { write: tWrite, load: tLoad, build: tBuild, session: a.session + b.session, run: a.run + b.run, fd: tFd },
      rssMiB: { beforeLoad: mib(beforeLoad), peakLoad: mib(peakLoad), peak: mib(peak) },
      modelMiB: mib(modelBytes),
      gflop: { forward: countFlops(gf) / 1e9, bigSleepWithGradient: countFlops(gb) / 1e9 },
      forward: { shape: fwd.shape, ...range(a.out.image!) },
      bigSleep: { shape: img.shape, ...range(b.out.image!), loss: b.out.loss![0]!, gradNorm: gNorm, gradFinite: gAll.every(Number.isFinite) },
      fd,
    };
  } finally {
    clearInterval(timer);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
