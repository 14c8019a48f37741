/** 1-D resampling matrices ([out, in], row-major) that make crops and resizes plain matrix products. */

function sinc(x: number): number {
  return x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
}

/** The reference's lanczos(ramp(ratio, 2), 2) low-pass kernel, normalised to sum 1. */
export function lanczosKernel(ratio: number, a = 2): number[] {
  const n = Math.ceil(a / ratio + 1);
  const half: number[] = [];
  for (let i = 0, cur = 0; i < n; i++, cur += ratio) half.push(cur);
  const xs = [...half.slice(1).reverse().map((v) => -v), ...half].slice(1, -1);
  const k = xs.map((x) => (-a < x && x < a ? sinc(x) * sinc(x / a) : 0));
  const sum = k.reduce((s, v) => s + v, 0);
  return k.map((v) => v / sum);
}

function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** Cubic convolution weights (A = −0.75, torch's bicubic) for fractional offset t. */
function cubicWeights(t: number, A = -0.75): [number, number, number, number] {
  const w1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const w2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [w2(t + 1), w1(t), w1(1 - t), w2(2 - t)];
}

/** torch F.interpolate(mode='bicubic', align_corners) along one axis, as an [out, in] matrix. */
export function bicubicMatrix(inN: number, outN: number, alignCorners: boolean): Float64Array {
  const m = new Float64Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    const src = alignCorners ? (outN > 1 ? (i * (inN - 1)) / (outN - 1) : 0) : ((i + 0.5) * inN) / outN - 0.5;
    const f = Math.floor(src);
    const w = cubicWeights(src - f);
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(f - 1 + k, 0), inN - 1);
      m[i * inN + j]! += w[k]!;
    }
  }
  return m;
}

/**
 * The reference `resample`: lanczos prefilter (reflect padding) when shrinking, then bicubic with
 * align_corners, composed into one [out, in] matrix.
 */
export function resampleMatrix(inN: number, outN: number): Float64Array {
  const bic = bicubicMatrix(inN, outN, true);
  if (outN >= inN) return bic;
  const k = lanczosKernel(outN / inN);
  const pad = (k.length - 1) / 2;
  const out = new Float64Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    for (let j = 0; j < inN; j++) {
      const b = bic[i * inN + j]!;
      if (!b) continue;
      for (let t = 0; t < k.length; t++) out[i * inN + reflect(j + t - pad, inN)]! += b * k[t]!;
    }
  }
  return out;
}

/** AdaptiveAvgPool1d(in → out) as an [out, in] matrix. */
export function adaptiveAvgMatrix(inN: number, outN: number): Float64Array {
  const m = new Float64Array(outN * inN);
  for (const [i, s, e] of adaptiveWindows(inN, outN)) for (let j = s; j < e; j++) m[i * inN + j] = 1 / (e - s);
  return m;
}

/** [index, start, end) of each adaptive pooling window (torch's floor/ceil rule). */
export function adaptiveWindows(inN: number, outN: number): [number, number, number][] {
  return Array.from({ length: outN }, (_, i) => [i, Math.floor((i * inN) / outN), Math.ceil(((i + 1) * inN) / outN)]);
}

/** Places an [out, len] matrix at column offset `offset` of an [out, inN] matrix (a crop, then resample). */
export function cropThen(m: Float64Array, out: number, len: number, offset: number, inN: number, target: Float32Array, targetOffset = 0): void {
  for (let i = 0; i < out; i++) {
    for (let j = 0; j < len; j++) target[targetOffset + i * inN + offset + j] = m[i * len + j]!;
  }
}
