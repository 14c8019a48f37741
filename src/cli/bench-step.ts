/** The bench's VQGAN+CLIP step case: one live session, timed, its memory peak measured, its inputs counted. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Graph, Session, gemm, matmul, memoryOptions, serialize, type Device, type MemoryMode, type HostArray, type SerializedModel, type SessionOptions } from '../engine/graph/index.ts';
import { DEFAULT_AUGMENTS, sampleCutouts, type CutMethod, type CutoutSpec } from '../engine/generate/cutouts.ts';
import { Prng } from '../engine/generate/prng.ts';
import { buildStepGraph } from '../engine/generate/step-graph.ts';
import type { ClipModel } from '../engine/models/clip.ts';
import type { VqganModel } from '../engine/models/vqgan.ts';
import { collectGarbage } from '../engine/collect-garbage.ts';
import { peakRssBytes, resetPeakRss } from './peak-rss.ts';

export interface StepCase {
  size: number;
  cutn: number;
  cutMethod: CutMethod;
  graphBuildSec: number;
  nodes: number;
  sessionCreateSec: number;
  secPerStep: number;
  stepSamples: number[];
  /** host time per step drawing the cutouts' random parameters */
  hostPrepSec: number;
  /** bytes of the inputs fed to one run (z, targets, the cutouts' parameters) */
  bytesFedPerStep: number;
  /**
   * The kernel's RSS high-water mark over this case alone (reset at its start): the weights resident
   * (or read again), the graph built, the session made, the steps run, like the reference's ru_maxrss
   */
  peakRssMB: number;
  /** the high-water mark while the steps run (reset after the session is made and the JS weights dropped) */
  stepPeakRssMB: number;
  /** false where the mark cannot be reset (not Linux): the figures are then the process's maxRSS */
  peakPerCase: boolean;
  /** matrix-product and convolution FLOPs of one step, and the rate achieved */
  gflopPerStep: number;
  gflopsPerSec: number;
  /** ORT's per-node times of one profiled run (the session's second: the first grows its arena), by op type */
  topOps?: { op: string; sec: number; share: number }[];
  /** of that run, the seconds in matrix products and convolutions: the step if all else took no time */
  matrixOpSec?: number;
}

export interface StepCaseOptions {
  size: number;
  cutn: number;
  method: CutMethod;
  steps: number;
  profile: boolean;
  threads: number;
  device: Device;
  /** ENGINE_MEMORY, as the engine's sessions take it */
  memory: MemoryMode;
}

const mb = (b: number) => Math.round(b / 2 ** 20);

export async function runStepCase(clip: ClipModel, vqgan: VqganModel, o: StepCaseOptions): Promise<StepCase> {
  const f = vqgan.config.factor;
  const zShape: [number, number, number, number] = [1, vqgan.config.embedDim, o.size / f, o.size / f];
  const cut: CutoutSpec = { method: o.method, cutn: o.cutn, cutSize: clip.inputSize, cutPow: 1, augments: DEFAULT_AUGMENTS[o.method], width: o.size, height: o.size };
  const peakPerCase = resetPeakRss();
  await Promise.all([clip.params.load(), vqgan.params.load()]);
  let built: ReturnType<typeof buildStepGraph> | undefined = buildStepGraph(clip, vqgan, { zShape, cut, targets: 8 });
  const { nodeCount, buildMs, flops = 0 } = built;
  const t1 = performance.now();
  const session = await Session.create(built.model, { device: o.device, threads: o.threads, ...memoryOptions(o.memory) });
  const sessionCreateSec = (performance.now() - t1) / 1000;
  // as the engine does: ONNX Runtime holds the weights now; the graph and the JS arrays can go
  built = undefined;
  dropWeights(clip, vqgan);
  const rng = new Prng(1);
  const zSize = zShape.reduce((a, b) => a * b, 1);
  const D = clip.config.embedDim;
  const base: Record<string, HostArray> = {
    z: new Float32Array(zSize).map(() => rng.normal() * 0.5),
    targets: new Float32Array(8 * D).map(() => rng.normal()),
    target_sign: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]),
    target_coef: Float32Array.from([1 / o.cutn, 0, 0, 0, 0, 0, 0, 0]),
    target_stop: new Float32Array(8).fill(-Infinity),
    init_anchor: new Float32Array(zSize),
    init_coef: Float32Array.of(0),
  };
  const samples: number[] = [];
  let prep = 0;
  let fed = 0;
  const createPeak = peakRssBytes();
  resetPeakRss();
  for (let i = 0; i < o.steps + 1; i++) {
    const t0 = performance.now();
    const feeds = { ...base, ...sampleCutouts(rng, cut) };
    prep += performance.now() - t0;
    fed = Object.values(feeds).reduce((s, a) => s + a.byteLength, 0);
    await session.run(feeds);
    if (i > 0) samples.push((performance.now() - t0) / 1000);
  }
  const stepPeak = peakRssBytes();
  const peak = Math.max(createPeak, stepPeak);
  await session.release();
  let profile: Awaited<ReturnType<typeof profileOps>> | undefined;
  if (o.profile) {
    await Promise.all([clip.params.load(), vqgan.params.load()]);
    const model = buildStepGraph(clip, vqgan, { zShape, cut, targets: 8 }).model;
    profile = await profileOps(model, { ...base, ...sampleCutouts(rng, cut) }, o.threads, o.device, o.memory);
    dropWeights(clip, vqgan);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)]!;
  return {
    size: o.size,
    cutn: o.cutn,
    cutMethod: o.method,
    graphBuildSec: buildMs / 1000,
    nodes: nodeCount,
    sessionCreateSec,
    secPerStep: median,
    stepSamples: samples,
    hostPrepSec: prep / 1000 / (o.steps + 1),
    bytesFedPerStep: fed,
    peakRssMB: mb(peak),
    stepPeakRssMB: mb(stepPeak),
    peakPerCase,
    gflopPerStep: Number((flops / 1e9).toFixed(1)),
    gflopsPerSec: Number((flops / 1e9 / median).toFixed(1)),
    ...(profile ?? {}),
  };
}

/** As the engine does once a session holds the weights: the JS arrays go, and are collected now. */
function dropWeights(clip: ClipModel, vqgan: VqganModel): void {
  clip.params.release();
  vqgan.params.release();
  collectGarbage();
}

const MATRIX_OPS = new Set(['Gemm', 'MatMul', 'FusedMatMul', 'FusedGemm', 'Conv', 'FusedConv', 'ConvTranspose']);

/** ORT's per-node timings of a session's second run (the first grows the arena), summed by op type. */
async function profileOps(model: SerializedModel, feeds: Record<string, HostArray>, threads: number, device: Device, memory: MemoryMode) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-prof-'));
  const prefix = path.join(dir, 'step');
  const s = await Session.create(model, { device, threads, ...memoryOptions(memory), profilePrefix: prefix });
  await s.run(feeds);
  await s.run(feeds);
  s.endProfiling();
  await s.release();
  const file = fs.readdirSync(dir).map((f) => path.join(dir, f)).find((f) => f.endsWith('.json'));
  if (!file) return { topOps: [], matrixOpSec: 0 };
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; ts: number; dur: number; args?: { op_name?: string } }[];
  fs.rmSync(dir, { recursive: true, force: true });
  const start = Math.max(...events.filter((e) => e.name === 'model_run').map((e) => e.ts));
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < start) continue;
    const op = e.args?.op_name ?? 'unknown';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1e6);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const matrixOpSec = [...byOp].reduce((a, [op, sec]) => a + (MATRIX_OPS.has(op) ? sec : 0), 0);
  const topOps = [...byOp.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([op, sec]) => ({ op, sec: Number(sec.toFixed(3)), share: Number((sec / total).toFixed(3)) }));
  return { topOps, matrixOpSec: Number(matrixOpSec.toFixed(3)) };
}

/** GFLOP/s of a graph's best of 4 runs (after one untimed run) on a fresh session. */
async function bestRate(g: Graph, feeds: Record<string, HostArray>, flops: number, options: SessionOptions): Promise<number> {
  const s = await Session.create(serialize(g), options);
  await s.run(feeds);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  await s.release();
  return flops / best / 1e9;
}

/**
 * ONNX Runtime's rate on CLIP's MLP products (768 → 3072 → 768, `pairs` times over) at `rows` rows,
 * formed as the engine forms them (Gemm over the stored [out, in] weight, the sessions' memory mode);
 * chained, so copying the product out costs nothing measurable. The reference script measures the
 * same in torch.
 */
export async function linearGflops(threads: number, device: Device, memory: MemoryMode, rows: number, pairs = 4): Promise<number> {
  const g = new Graph();
  const weight = (o: number, i: number, name: string) => g.constant(Float32Array.from({ length: o * i }, (_, k) => Math.sin(k) * 0.02), [o, i], name);
  const w1 = weight(3072, 768, 'w1');
  const w2 = weight(768, 3072, 'w2');
  let y = g.input('x', [rows, 768]);
  for (let p = 0; p < pairs; p++) y = gemm(gemm(y, w1, undefined, { transB: true }), w2, undefined, { transB: true });
  g.output(y, 'y');
  const rate = await bestRate(g, { x: new Float32Array(rows * 768).fill(0.5) }, pairs * 4 * rows * 768 * 3072, { device, threads, ...memoryOptions(memory) });
  return Number(rate.toFixed(1));
}

/**
 * This machine's plain MatMul rate (3072²) on the bench's device, measured in this run. On a GPU the
 * time includes copying the operands in and the product out.
 */
export async function matmulGflops(threads: number, device: Device): Promise<number> {
  const n = 3072;
  const g = new Graph();
  g.output(matmul(g.input('a', [n, n]), g.input('b', [n, n])), 'c');
  const a = new Float32Array(n * n).fill(0.5);
  return bestRate(g, { a, b: a }, 2 * n ** 3, { device, threads });
}
