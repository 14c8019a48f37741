/**
 * The models at their real sizes (CLIP ViT-B/32, VQGAN f16_16384 decoder) with random weights under the
 * real key names: build them through the normal loaders, run the image and text encoders and the
 * decoder, and check the gradient of the one-cutout loss against central finite differences.
 * Used by test/engine/models/real-size.test.ts and scripts/real-size.ts.
 */
import { Graph, Session, grad, reshape, serialize, slice, type Device, type HostArray } from '../../src/engine/graph/index.ts';
import { oneCutoutLoss } from '../../src/cli/inspect.ts';
import { ClipModel, eotPositions, inferClipConfig } from '../../src/engine/models/clip.ts';
import { canonicalClipParams } from '../../src/engine/models/clip-weights.ts';
import { ParamStore, type ParamArray } from '../../src/engine/models/params.ts';
import { VqganModel } from '../../src/engine/models/vqgan.ts';
import { maxAbsError } from './compare.ts';
import { F16_16384, Rng, VIT_B32, clipInitStd, clipKeys, memoryWeightFile, numel, randomWeights, vqganInitStd, vqganKeys } from './model-keys.ts';

export interface RealSizeOptions {
  /** also differentiate the loss and check it by finite differences (the expensive part) */
  gradient?: boolean;
  /** random directions for the finite differences besides the gradient's own (each costs two decoder + CLIP forward passes) */
  directions?: number;
  /** finite-difference step along a random unit direction (default 4; z entries are ~N(0,1), ‖z‖ = 256) */
  step?: number;
  /** step along the gradient's own direction, where the loss curves much more (default 0.25) */
  gradientStep?: number;
  device?: Device;
  log?: (line: string) => void;
}

export interface FdResult {
  direction: 'gradient' | 'random';
  step: number;
  /** g·d with g the engine's gradient and d the unit direction */
  analytic: number;
  /** (L(zq + h·d) − L(zq − h·d)) / 2h with h = step */
  numeric: number;
  /** |analytic − numeric| / |numeric| */
  relError: number;
}

export interface RealSizeReport {
  clip: ReturnType<typeof inferClipConfig>;
  vqgan: VqganModel['config'];
  params: { clip: number; vqganDecoder: number };
  seconds: { weights: number; build: number; session: number; run: number; total: number };
  /** process CPU time (user + system) of the same phases: wall time on a busy machine says little */
  cpuSeconds: { weights: number; build: number; session: number; run: number; total: number };
  peakRssMiB: number;
  imageEmbed: { shape: readonly number[]; batchVsSingle: { err: number; bound: number }; finite: boolean };
  textEmbed: { shape: readonly number[]; finite: boolean };
  decoded: { shape: readonly number[]; min: number; max: number; finite: boolean };
  loss: number;
  gradNorm?: number;
  gradFinite?: boolean;
  fd?: FdResult[];
  fdSeconds?: { wall: number; cpu: number };
}

const now = () => performance.now() / 1000;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export async function realSizeCheck(opts: RealSizeOptions = {}): Promise<RealSizeReport> {
  const log = opts.log ?? (() => {});
  const K = opts.directions ?? 1;
  const hRandom = opts.step ?? 4;
  const hGrad = opts.gradientStep ?? 0.25;
  const withGrad = opts.gradient ?? true;
  let peak = process.memoryUsage().rss;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));
  const timer = setInterval(sample, 100);
  timer.unref();
  const t0 = now();
  const c0 = cpu();
  try {
    // weights under the real names, through the real name mapping (in_proj split into q/k/v views)
    const ck = clipKeys(VIT_B32);
    const clipFile = memoryWeightFile(ck, randomWeights(ck, (n, s) => clipInitStd(n, s), 1), 'random ViT-B/32');
    const clipParams = canonicalClipParams(clipFile);
    const clip = new ClipModel(clipParams, inferClipConfig(clipParams));
    const vk = vqganKeys(F16_16384, { decoder: true });
    const vqArrays = randomWeights(vk, (n, s) => vqganInitStd(n, s, 0.25), 2);
    const vq = new VqganModel(new ParamStore(new Map<string, ParamArray>(vk.map(([n, s]) => [n, { data: vqArrays.get(n)!, shape: s }])), 'random f16_16384'));
    const tWeights = now();
    const cWeights = cpu();
    log(`weights: ${(tWeights - t0).toFixed(1)} s; CLIP ${JSON.stringify(clip.config)}; VQGAN ${JSON.stringify(vq.config)}`);

    const rng = new Rng(3);
    const r = clip.inputSize;
    const e = vq.config.embedDim;
    const zShape = [1, e, 16, 16];
    const n = numel(zShape);
    const images = rng.fillUniform(new Float32Array(2 * 3 * r * r), Math.sqrt(1 / 12), 0.5);
    const z = Float32Array.from({ length: n }, () => rng.normal());
    const ids = new BigInt64Array(2 * 77);
    for (let row = 0; row < 2; row++) {
      const len = 5 + row * 7;
      ids[row * 77] = 49406n;
      for (let j = 1; j < len; j++) ids[row * 77 + j] = BigInt(1 + (rng.u32() % 49000));
      ids[row * 77 + len] = 49407n;
    }
    const g = new Graph();
    const img = g.input('images', [2, 3, r, r]);
    const imageEmbed = clip.encodeImage(g, clip.normalize(g, img));
    const imageEmbed0 = clip.encodeImage(g, clip.normalize(g, slice(img, [0], [1], [0])));
    const tokens = g.input('tokens', [2, 77], 'int64');
    const eot = g.input('eot', [2], 'int64');
    const textEmbed = clip.encodeText(g, tokens, eot);
    const zi = g.input('z', zShape);
    const { losses, decoded } = oneCutoutLoss(g, clip, vq, zi, slice(textEmbed, [0], [1], [0]));
    const loss = reshape(losses, []);
    for (const [t, name] of [[imageEmbed, 'image_embed'], [imageEmbed0, 'image_embed0'], [textEmbed, 'text_embed'], [decoded, 'decoded'], [loss, 'loss']] as const) {
      g.output(t, name);
    }
    if (withGrad) {
      g.output(grad(loss, [zi])[0]!, 'grad');
      g.output(vq.quantize(g, zi).zq, 'zq');
    }
    const model = serialize(g);
    sample();
    const tBuild = now();
    const cBuild = cpu();
    log(`graph: ${g.nodes.length} nodes, built and serialised in ${(tBuild - tWeights).toFixed(1)} s`);
    const device = opts.device ?? 'cpu';
    const session = await Session.create(model, { device });
    sample();
    const tSession = now();
    const cSession = cpu();
    log(`session: ${(tSession - tBuild).toFixed(1)} s`);
    let out: Record<string, HostArray>;
    try {
      out = await session.run({ images, tokens: ids, eot: eotPositions(ids, 2, 77), z });
    } finally {
      sample();
      await session.release();
    }
    const tRun = now();
    const cRun = cpu();
    log(`run: ${(tRun - tSession).toFixed(1)} s`);

    const f = (k: string) => out[k] as Float32Array;
    const finite = (a: Float32Array) => a.every(Number.isFinite);
    let fdPart: Pick<RealSizeReport, 'gradNorm' | 'gradFinite' | 'fd' | 'fdSeconds'> = {};
    if (withGrad) {
      // The straight-through gradient at z is the plain gradient at zq = quantize(z): central differences
      // of the unquantised loss around zq check it (the quantiser itself has no derivative). Directions:
      // the gradient's own (a large, clean signal) and K random ones (derivatives ~‖g‖/√n, so noisier).
      const gz = f('grad');
      const zq = f('zq');
      const gn = Math.sqrt(gz.reduce((a, v) => a + v * v, 0));
      const dirs: Float64Array[] = [Float64Array.from(gz, (v) => v / gn)];
      for (let k = 0; k < K; k++) {
        const d = Float64Array.from({ length: n }, () => rng.normal());
        const norm = Math.sqrt(d.reduce((a, v) => a + v * v, 0));
        dirs.push(d.map((v) => v / norm));
      }
      const batch = 2 * dirs.length;
      const zfd = new Float32Array(batch * n);
      const steps = dirs.map((_, k) => (k === 0 ? hGrad : hRandom));
      dirs.forEach((d, k) => {
        const h = steps[k]!;
        for (let i = 0; i < n; i++) {
          zfd[2 * k * n + i] = zq[i]! + h * d[i]!;
          zfd[(2 * k + 1) * n + i] = zq[i]! - h * d[i]!;
        }
      });
      const g2 = new Graph();
      const zb = g2.input('z', [batch, ...zShape.slice(1)]);
      const t2 = g2.input('target', [1, clip.config.embedDim]);
      g2.output(oneCutoutLoss(g2, clip, vq, zb, t2, { quantize: false }).losses, 'losses');
      const c2 = cpu();
      const t2s = now();
      const s2 = await Session.create(serialize(g2), { device });
      let fdLosses: Float32Array;
      try {
        fdLosses = (await s2.run({ z: zfd, target: f('text_embed').slice(0, clip.config.embedDim) })).losses as Float32Array;
      } finally {
        sample();
        await s2.release();
      }
      const fd: FdResult[] = dirs.map((d, k) => {
        let analytic = 0;
        for (let i = 0; i < n; i++) analytic += gz[i]! * d[i]!;
        const numeric = (fdLosses[2 * k]! - fdLosses[2 * k + 1]!) / (2 * steps[k]!);
        return { direction: k === 0 ? 'gradient' : 'random', step: steps[k]!, analytic, numeric, relError: Math.abs(analytic - numeric) / Math.abs(numeric) };
      });
      fdPart = { gradNorm: gn, gradFinite: finite(gz), fd, fdSeconds: { wall: now() - t2s, cpu: cpu() - c2 } };
      log(`finite differences (${batch} forward passes): ${(now() - t2s).toFixed(1)} s`);
    }
    const dec = f('decoded');
    let min = Infinity;
    let max = -Infinity;
    for (const v of dec) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const ie = f('image_embed');
    const report: RealSizeReport = {
      clip: clip.config,
      vqgan: vq.config,
      params: { clip: ck.reduce((a, [, s]) => a + numel(s), 0), vqganDecoder: vk.reduce((a, [, s]) => a + numel(s), 0) },
      seconds: { weights: tWeights - t0, build: tBuild - tWeights, session: tSession - tBuild, run: tRun - tSession, total: tRun - t0 },
      cpuSeconds: { weights: cWeights - c0, build: cBuild - cWeights, session: cSession - cBuild, run: cRun - cSession, total: cRun - c0 },
      peakRssMiB: 0,
      imageEmbed: { shape: imageEmbed.shape, batchVsSingle: maxAbsError(ie.subarray(0, 512), f('image_embed0')), finite: finite(ie) },
      textEmbed: { shape: textEmbed.shape, finite: finite(f('text_embed')) },
      decoded: { shape: decoded.shape, min, max, finite: finite(dec) },
      loss: f('loss')[0]!,
      ...fdPart,
    };
    sample();
    report.peakRssMiB = Math.round(peak / 2 ** 20);
    return report;
  } finally {
    clearInterval(timer);
  }
}
