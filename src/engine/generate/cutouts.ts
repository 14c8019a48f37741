import {
  add,
  and,
  clampWithGrad,
  concat,
  conv2d,
  div,
  expand,
  gather,
  greaterOrEqual,
  less,
  matmul,
  maximum,
  mul,
  reshape,
  slice,
  sub,
  where,
  type Graph,
  type HostArray,
  type Tensor,
} from '../graph/index.ts';
import { drawNoiseSeed, hashedNormal } from './cut-noise.ts';
import { sampleCrops, type CropOptions, type CropSampling } from './crop-sampling.ts';
import type { Prng } from './prng.ts';
import { adaptiveAvgMatrix, adaptiveWindows, cropThen, resampleMatrix } from './resample.ts';
import { I3, affineAbout, inv3, mul3, randomPerspective, type Mat3 } from './warp.ts';
import { warpCutouts } from './warp-taps.ts';

export const CUT_METHODS = ['original', 'updated', 'latest'] as const;
export type CutMethod = (typeof CUT_METHODS)[number];
/** Augment codes of the reference generate.py (Ji colour jitter, Sh sharpness, Gn noise, Pe perspective,
 * Ro rotation, Af affine, Et/Ts unsupported, Cr crop, Er erasing, Re resized crop) plus Hf flip. */
export const AUGMENTS = ['Ji', 'Sh', 'Gn', 'Pe', 'Ro', 'Af', 'Er', 'Re', 'Hf', 'Cr'] as const;
export type Augment = (typeof AUGMENTS)[number];
export const DEFAULT_AUGMENTS: Record<CutMethod, Augment[]> = {
  original: [],
  updated: ['Hf', 'Ji', 'Sh', 'Af', 'Pe'],
  latest: ['Af', 'Pe', 'Ji', 'Er'],
};
const WARPS: readonly Augment[] = ['Pe', 'Ro', 'Af', 'Re', 'Hf', 'Cr'];

export interface CutoutSpec {
  /** generate.py's methods, or the crop sampling of big-sleep / deep-daze (crop-sampling.ts) */
  method: CutMethod | CropSampling;
  /** options of the big-sleep / deep-daze sampling */
  crop?: CropOptions;
  cutn: number;
  cutSize: number;
  cutPow: number;
  augments: readonly Augment[];
  /** image size being cut */
  width: number;
  height: number;
}

export function parseAugments(list: readonly string[]): Augment[] {
  return list.map((a) => {
    if ((AUGMENTS as readonly string[]).includes(a)) return a as Augment;
    if (a === 'Et' || a === 'Ts') throw new Error(`augment ${a} (elastic / thin-plate) is not supported; use ${AUGMENTS.join(', ')}`);
    throw new Error(`unknown augment "${a}": use ${AUGMENTS.join(', ')}`);
  });
}

/**
 * Builds the cutouts of img [1,3,H,W] as graph nodes: crops and resizes are matrix products, warps are
 * bilinear gathers whose taps the graph computes from one matrix per cutout (warp-taps.ts), jitter a 3×3
 * colour matrix, erasing a box, noise a hash of a seed (cut-noise.ts); their random parameters are small
 * graph inputs filled by sampleCutouts() each step.
 */
export function buildCutouts(g: Graph, img: Tensor, spec: CutoutSpec): Tensor {
  const { cutn, cutSize: s, width: W, height: H } = spec;
  let x: Tensor;
  let sources: number;
  if (spec.method === 'latest') {
    const ay = g.constant(toF32(adaptiveAvgMatrix(H, s)), [s, H], 'pool_avg_y');
    const axT = g.constant(transposeF32(adaptiveAvgMatrix(W, s), s, W), [W, s], 'pool_avg_xt');
    const avg = matmul(matmul(ay, img), axT);
    x = div(add(avg, adaptiveMax(g, img, s)), 2);
    sources = 1;
  } else {
    const ry = g.input('cut_ry', [cutn, 1, s, H]);
    const rxT = g.input('cut_rxt', [cutn, 1, W, s]);
    x = matmul(matmul(ry, img), rxT);
    sources = cutn;
  }
  const aug = new Set(spec.augments);
  if (spec.augments.some((a) => WARPS.includes(a))) {
    x = warpCutouts(x, g.input('warp_mats', [cutn, 9]));
  } else if (sources !== cutn) {
    x = expand(x, [cutn, 3, s, s]);
  }
  if (aug.has('Ji')) {
    const m = g.input('jitter', [cutn, 3, 3]);
    x = reshape(matmul(m, reshape(x, [cutn, 3, s * s])), [cutn, 3, s, s]);
  }
  if (aug.has('Sh')) {
    const k = g.constant(new Float32Array(27).map((_, i) => ((i % 9) === 4 ? 5 : 1) / 13), [3, 1, 3, 3], 'sharpness_kernel');
    const f = g.input('sharpness', [cutn, 1, 1, 1]);
    const blurred = conv2d(x, k, undefined, { pads: [1, 1, 1, 1], group: 3 });
    x = add(x, mul(f, sub(x, blurred)));
  }
  if (aug.has('Er')) x = mul(x, eraseMask(g, g.input('erase_box', [cutn, 4], 'int64'), s));
  if (spec.method === 'latest' || aug.has('Gn')) {
    const noise = hashedNormal(g, g.input('noise_seed', [2], 'int64'), [cutn, 3, s, s]);
    x = add(x, mul(noise, g.input('noise_scale', [cutn, 1, 1, 1])));
  }
  return spec.method === 'latest' ? x : clampWithGrad(x, 0, 1);
}

/** AdaptiveMaxPool2d to s×s, separable: the max over each window's rows, then over its columns. */
function adaptiveMax(g: Graph, img: Tensor, s: number): Tensor {
  const along = (x: Tensor, axis: number, n: number) => {
    const win = adaptiveWindows(n, s);
    const kmax = Math.max(...win.map(([, a, b]) => b - a));
    let m: Tensor | null = null;
    for (let k = 0; k < kmax; k++) {
      const idx = BigInt64Array.from(win, ([, a, b]) => BigInt(Math.min(a + k, b - 1)));
      const t = gather(x, g.constant(idx, [s], `pool_max_${axis}_${n}_${k}`), axis);
      m = m ? maximum(m, t) : t;
    }
    return m!;
  };
  return along(along(img, 2, img.shape[2]!), 3, img.shape[3]!);
}

/** 0 inside each cutout's box [x0, y0, x1, y1) (boxes [cutn, 4]; an empty box erases nothing), 1 elsewhere: [cutn, 1, s, s]. */
export function eraseMask(g: Graph, boxes: Tensor, s: number): Tensor {
  const cutn = boxes.shape[0]!;
  const edge = (k: number) => reshape(slice(boxes, [0, k], [cutn, k + 1], [0, 1]), [cutn, 1, 1, 1]);
  const range = BigInt64Array.from({ length: s }, (_, i) => BigInt(i));
  const xs = g.constant(range, [1, 1, 1, s], `erase_range_x_${s}`);
  const ys = g.constant(range, [1, 1, s, 1], `erase_range_y_${s}`);
  const inside = and(and(greaterOrEqual(xs, edge(0)), less(xs, edge(2))), and(greaterOrEqual(ys, edge(1)), less(ys, edge(3))));
  return where(inside, g.scalar(0), g.scalar(1));
}

/**
 * Draws one step's cutout parameters in a fixed order (crops, warp matrices, jitter, sharpness, erase
 * boxes, noise scales, the noise seed), so a seed, or a checkpointed PRNG state, reproduces them.
 */
export function sampleCutouts(rng: Prng, spec: CutoutSpec): Record<string, HostArray> {
  const { cutn, cutSize: s, width: W, height: H } = spec;
  if (spec.method === 'bigsleep' || spec.method === 'deepdaze') return sampleCrops(rng, spec.method, cutn, s, W, H, spec.crop ?? {});
  const feeds: Record<string, HostArray> = {};
  if (spec.method !== 'latest') {
    const ry = new Float32Array(cutn * s * H);
    const rxT = new Float32Array(cutn * W * s);
    const maxSize = Math.min(W, H);
    const minSize = Math.min(W, H, s);
    for (let c = 0; c < cutn; c++) {
      const size = Math.floor(rng.uniform() ** spec.cutPow * (maxSize - minSize) + minSize);
      const ox = rng.int(W - size + 1);
      const oy = rng.int(H - size + 1);
      const m = resampleMatrix(size, s);
      cropThen(m, s, size, oy, H, ry, c * s * H);
      const rx = new Float32Array(s * W);
      cropThen(m, s, size, ox, W, rx);
      for (let i = 0; i < s; i++) for (let j = 0; j < W; j++) rxT[c * W * s + j * s + i] = rx[i * W + j]!;
    }
    feeds.cut_ry = ry;
    feeds.cut_rxt = rxT;
  }
  const aug = new Set(spec.augments);
  if (spec.augments.some((a) => WARPS.includes(a))) {
    const mats: Mat3[] = [];
    for (let c = 0; c < cutn; c++) {
      let fwd = I3;
      for (const a of spec.augments) {
        if (a === 'Hf' && rng.bernoulli(0.5)) fwd = mul3([-1, 0, s - 1, 0, 1, 0, 0, 0, 1], fwd);
        if (a === 'Af' && rng.bernoulli(spec.method === 'latest' ? 0.7 : 0.8)) {
          const deg = spec.method === 'latest' ? 15 : 30;
          const sh = spec.method === 'latest' ? 5 : 0;
          fwd = mul3(affineAbout(s, rng.range(-deg, deg), rng.range(-0.1, 0.1) * s, rng.range(-0.1, 0.1) * s, rng.range(-sh, sh), rng.range(-sh, sh)), fwd);
        }
        if (a === 'Ro' && rng.bernoulli(0.7)) fwd = mul3(affineAbout(s, rng.range(-15, 15), 0, 0), fwd);
        if (a === 'Pe' && rng.bernoulli(spec.method === 'latest' ? 0.7 : 0.4)) fwd = mul3(randomPerspective(rng, s, spec.method === 'latest' ? 0.7 : 0.2), fwd);
        if (a === 'Re' && rng.bernoulli(0.5)) {
          // random resized crop: zoom into a region of 10–100 % of the area with aspect 3/4–4/3
          const area = rng.range(0.1, 1);
          const ratio = Math.exp(rng.range(Math.log(3 / 4), Math.log(4 / 3)));
          const cw = Math.min(1, Math.sqrt(area * ratio));
          const ch = Math.min(1, Math.sqrt(area / ratio));
          const cx = rng.uniform() * (1 - cw) * s;
          const cy = rng.uniform() * (1 - ch) * s;
          fwd = mul3([1 / cw, 0, -cx / cw, 0, 1 / ch, -cy / ch, 0, 0, 1], fwd);
        }
        if (a === 'Cr' && rng.bernoulli(0.5)) {
          // random crop of a reflect-padded image approximated by a small translation
          fwd = mul3([1, 0, rng.range(-0.05, 0.05) * s, 0, 1, rng.range(-0.05, 0.05) * s, 0, 0, 1], fwd);
        }
      }
      mats.push(inv3(fwd));
    }
    // float32: the graph computes the taps in float64 from exactly these values
    feeds.warp_mats = Float32Array.from(mats.flat());
  }
  if (aug.has('Ji')) feeds.jitter = jitterMatrices(rng, cutn, spec.method === 'latest');
  if (aug.has('Sh')) {
    feeds.sharpness = Float32Array.from({ length: cutn }, () => (rng.bernoulli(0.4) ? rng.range(0, 0.3) : 0));
  }
  if (aug.has('Er')) feeds.erase_box = eraseBoxes(rng, cutn, s);
  if (spec.method === 'latest' || aug.has('Gn')) {
    const scale = new Float32Array(cutn);
    for (let c = 0; c < cutn; c++) {
      const fac = spec.method === 'latest' ? rng.range(0, 0.1) : 0;
      const gn = aug.has('Gn') && rng.bernoulli(0.5) ? 0.1 : 0;
      scale[c] = fac + gn;
    }
    feeds.noise_scale = scale;
    feeds.noise_seed = drawNoiseSeed(rng);
  }
  return feeds;
}

/** Saturation and hue jitter as one 3×3 matrix per cutout (hue as a rotation in YIQ space). */
function jitterMatrices(rng: Prng, cutn: number, latest: boolean): Float32Array {
  const out = new Float32Array(cutn * 9);
  const yiq = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312];
  const rgb = inv3(yiq);
  for (let c = 0; c < cutn; c++) {
    let m = I3;
    if (rng.bernoulli(0.7)) {
      const sat = rng.range(latest ? 0.9 : 0.99, latest ? 1.1 : 1.01);
      const hue = rng.range(latest ? -0.1 : -0.01, latest ? 0.1 : 0.01) * 2 * Math.PI;
      const gray = [0.299, 0.587, 0.114];
      const satM: Mat3 = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (i === j ? sat : 0) + (1 - sat) * gray[j]!));
      const rot: Mat3 = [1, 0, 0, 0, Math.cos(hue), -Math.sin(hue), 0, Math.sin(hue), Math.cos(hue)];
      m = mul3(mul3(rgb, mul3(rot, yiq)), satM);
    }
    out.set(m, c * 9);
  }
  return out;
}

/** kornia RandomErasing(scale .1–.4, ratio .3–3.3, p .7) boxes [x0, y0, x1, y1) per cutout; [0, 0, 0, 0] when not erased. */
export function eraseBoxes(rng: Prng, cutn: number, s: number): BigInt64Array {
  const out = new BigInt64Array(cutn * 4);
  for (let c = 0; c < cutn; c++) {
    if (!rng.bernoulli(0.7)) continue;
    const area = rng.range(0.1, 0.4) * s * s;
    const ratio = Math.exp(rng.range(Math.log(0.3), Math.log(3.3)));
    const h = Math.min(s, Math.round(Math.sqrt(area * ratio)));
    const w = Math.min(s, Math.round(Math.sqrt(area / ratio)));
    const y0 = rng.int(s - h + 1);
    const x0 = rng.int(s - w + 1);
    out.set([x0, y0, x0 + w, y0 + h].map(BigInt), c * 4);
  }
  return out;
}

function toF32(a: Float64Array): Float32Array {
  return Float32Array.from(a);
}

function transposeF32(a: Float64Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

export { concat };
