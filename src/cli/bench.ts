/**
 * npm run bench: one VQGAN+CLIP step at the real sizes (ViT-B/32, f16_16384) with random weights,
 * measured on this machine. Prints one JSON object.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Graph, Session, matmul, parseDevice, serialize, type Device, type HostArray } from '../engine/graph/index.ts';
import { DEFAULT_AUGMENTS, sampleCutouts, type CutMethod, type CutoutSpec } from '../engine/generate/cutouts.ts';
import { Prng } from '../engine/generate/prng.ts';
import { buildStepGraph } from '../engine/generate/step-graph.ts';
import { ClipModel } from '../engine/models/clip.ts';
import { inferClipConfig } from '../engine/models/clip.ts';
import { randomClipParams, randomVqganParams } from '../engine/models/random-weights.ts';
import { VqganModel } from '../engine/models/vqgan.ts';

const REFERENCE_SEC_PER_STEP = 5.5; // PyTorch reference, 256², cutn 32, 2 threads (platform notes)
const REFERENCE_MATMUL_GFLOPS = 310; // MatMul 3072², 2 threads, on the machine those figures were taken on

interface CaseResult {
  size: number;
  cutn: number;
  cutMethod: CutMethod;
  graphBuildSec: number;
  nodes: number;
  modelBytes: number;
  sessionCreateSec: number;
  secPerStep: number;
  stepSamples: number[];
  hostPrepSec: number;
  /** matrix-product and convolution FLOPs of one step, and the rate achieved */
  gflopPerStep: number;
  gflopsPerSec: number;
  topOps?: { op: string; sec: number; share: number }[];
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
/** Every session of the run (the step, the profile, the MatMul rate) is on this device (--device, set in main). */
let device: Device = 'cpu';

async function runCase(clip: ClipModel, vqgan: VqganModel, size: number, cutn: number, method: CutMethod, steps: number, profile: boolean, threads: number): Promise<CaseResult> {
  const f = vqgan.config.factor;
  const zShape: [number, number, number, number] = [1, vqgan.config.embedDim, size / f, size / f];
  const cut: CutoutSpec = { method, cutn, cutSize: clip.inputSize, cutPow: 1, augments: DEFAULT_AUGMENTS[method], width: size, height: size };
  const built = buildStepGraph(clip, vqgan, { zShape, cut, targets: 8 });
  const t1 = performance.now();
  const session = await Session.create(built.model, { device, threads });
  const sessionCreateSec = (performance.now() - t1) / 1000;
  const rng = new Prng(1);
  const zSize = zShape.reduce((a, b) => a * b, 1);
  const z = new Float32Array(zSize).map(() => rng.normal() * 0.5);
  const D = clip.config.embedDim;
  const base: Record<string, HostArray> = {
    z,
    targets: new Float32Array(8 * D).map(() => rng.normal()),
    target_sign: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]),
    target_coef: Float32Array.from([1 / cutn, 0, 0, 0, 0, 0, 0, 0]),
    target_stop: new Float32Array(8).fill(-Infinity),
    init_anchor: new Float32Array(zSize),
    init_coef: Float32Array.of(0),
  };
  const samples: number[] = [];
  let prep = 0;
  for (let i = 0; i < steps + 1; i++) {
    const t0 = performance.now();
    const feeds = { ...base, ...sampleCutouts(rng, cut) };
    prep += performance.now() - t0;
    await session.run(feeds);
    if (i > 0) samples.push((performance.now() - t0) / 1000);
  }
  await session.release();
  let topOps: CaseResult['topOps'];
  if (profile) topOps = await profileOps(built.model, { ...base, ...sampleCutouts(rng, cut) }, threads);
  samples.sort((a, b) => a - b);
  return {
    size,
    cutn,
    cutMethod: method,
    graphBuildSec: built.buildMs / 1000,
    nodes: built.nodeCount,
    modelBytes: built.model.bytes.byteLength + built.model.externalData.reduce((s, e) => s + e.data.byteLength, 0),
    sessionCreateSec,
    secPerStep: samples[Math.floor(samples.length / 2)]!,
    stepSamples: samples,
    hostPrepSec: prep / 1000 / (steps + 1),
    gflopPerStep: Number(((built.flops ?? 0) / 1e9).toFixed(1)),
    gflopsPerSec: Number(((built.flops ?? 0) / 1e9 / samples[Math.floor(samples.length / 2)]!).toFixed(1)),
    ...(topOps ? { topOps } : {}),
  };
}

/** One profiled run; ORT's per-node timings summed by op type. */
async function profileOps(model: Parameters<typeof Session.create>[0], feeds: Record<string, HostArray>, threads: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-prof-'));
  const prefix = path.join(dir, 'step');
  const s = await Session.create(model, { device, threads, profilePrefix: prefix });
  await s.run(feeds);
  s.endProfiling();
  await s.release();
  const file = fs.readdirSync(dir).map((f) => path.join(dir, f)).find((f) => f.endsWith('.json'));
  if (!file) return [];
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  fs.rmSync(dir, { recursive: true, force: true });
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? 'unknown';
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur / 1e6);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  return [...byOp.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([op, sec]) => ({ op, sec: Number(sec.toFixed(3)), share: Number((sec / total).toFixed(3)) }));
}

/**
 * This machine's plain MatMul rate (3072², the size the platform notes quote) on the bench's device,
 * measured in this run. On a GPU the time includes copying the operands in and the product out.
 */
async function matmulGflops(threads: number): Promise<number> {
  const n = 3072;
  const g = new Graph();
  g.output(matmul(g.input('a', [n, n]), g.input('b', [n, n])), 'c');
  const s = await Session.create(serialize(g), { device, threads });
  const a = new Float32Array(n * n).fill(0.5);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    await s.run({ a, b: a });
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  await s.release();
  return (2 * n ** 3) / best / 1e9;
}

async function main(): Promise<void> {
  // Whisper's seconds per 30-second window instead (src/cli/bench-whisper.ts)
  if (process.argv.includes('--whisper')) return void process.stdout.write(`${JSON.stringify(await (await import('./bench-whisper.ts')).benchWhisper(process.argv), null, 2)}\n`);
  device = parseDevice(arg('device', 'cpu'));
  const steps = Number(arg('steps', '3'));
  const threads = Number(arg('threads', String(os.availableParallelism())));
  const method = arg('cut-method', 'latest') as CutMethod;
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  const t0 = performance.now();
  const clipParams = randomClipParams();
  const clip = new ClipModel(clipParams, inferClipConfig(clipParams, { visionHeads: 12, textHeads: 8 }));
  const vqgan = new VqganModel(randomVqganParams({ encoder: false }));
  const weightsSec = (performance.now() - t0) / 1000;
  const machineGflops = await matmulGflops(threads);
  const cases: CaseResult[] = [];
  cases.push(await runCase(clip, vqgan, 256, 32, method, steps, true, threads));
  cases.push(await runCase(clip, vqgan, 256, 8, method, steps, false, threads));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const main32 = cases[0]!;
  const result = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, threads, node: process.version, device },
    models: { clip: 'ViT-B/32 (random weights)', vqgan: 'f16_16384 decoder (random weights)', clipParamsMB: clipParams.bytes() / 2 ** 20, vqganParamsMB: vqgan.params.bytes() / 2 ** 20 },
    weightsSec,
    cases,
    machineMatmulGflops: Number(machineGflops.toFixed(1)),
    /** the step's matrix/conv rate as a share of a plain large MatMul's on this machine, same run */
    efficiency: Number((main32.gflopsPerSec / machineGflops).toFixed(3)),
    reference: {
      pytorchSecPerStep: REFERENCE_SEC_PER_STEP,
      pytorchMachineMatmulGflops: REFERENCE_MATMUL_GFLOPS,
      speedupRaw: Number((REFERENCE_SEC_PER_STEP / main32.secPerStep).toFixed(2)),
      /** the reference's time scaled to this machine's MatMul rate: compare like with like */
      speedupMachineAdjusted: Number(((REFERENCE_SEC_PER_STEP * (REFERENCE_MATMUL_GFLOPS / machineGflops)) / main32.secPerStep).toFixed(2)),
    },
    peakRssMB: Math.round(peak / 2 ** 20),
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    totalSec: (performance.now() - t0) / 1000,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
});
