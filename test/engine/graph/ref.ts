/**
 * Straightforward float64 JS references for the forward of the graph ops (written from the
 * torch/ONNX definitions, independently of src/engine/graph), used by the gradient tests.
 */
type Arr = ArrayLike<number>;
type Shape = readonly number[];

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export function stridesOf(s: Shape): number[] {
  const st = new Array<number>(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1]! * s[i + 1]!;
  return st;
}

/** Calls f on every multi-index of shape in row-major order and collects the results. */
export function tabulate(shape: Shape, f: (idx: number[]) => number): Float64Array {
  const n = numel(shape);
  const out = new Float64Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    out[k] = f(idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

export function broadcastShape(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}

/** Offset into an array of shape `s` for an index of the (broadcast) output of rank ≥ s.length. */
export function bcOffset(s: Shape, idx: readonly number[]): number {
  const st = stridesOf(s);
  const lead = idx.length - s.length;
  let o = 0;
  for (let i = 0; i < s.length; i++) o += (s[i] === 1 ? 0 : idx[lead + i]!) * st[i]!;
  return o;
}

export function binary(a: Arr, as: Shape, b: Arr, bs: Shape, f: (x: number, y: number) => number): Float64Array {
  return tabulate(broadcastShape(as, bs), (i) => f(a[bcOffset(as, i)]!, b[bcOffset(bs, i)]!));
}

export function matmul(a: Arr, as: Shape, b: Arr, bs: Shape): Float64Array {
  const [m, k] = as.slice(-2) as [number, number];
  const n = bs[bs.length - 1]!;
  const batch = broadcastShape(as.slice(0, -2), bs.slice(0, -2));
  return tabulate([...batch, m, n], (idx) => {
    const bi = idx.slice(0, -2);
    const i = idx[idx.length - 2]!;
    const j = idx[idx.length - 1]!;
    let s = 0;
    for (let t = 0; t < k; t++) s += a[bcOffset(as, [...bi, i, t])]! * b[bcOffset(bs, [...bi, t, j])]!;
    return s;
  });
}

export function transpose(x: Arr, xs: Shape, perm: readonly number[]): Float64Array {
  const st = stridesOf(xs);
  return tabulate(perm.map((p) => xs[p]!), (idx) => x[idx.reduce((o, v, i) => o + v * st[perm[i]!]!, 0)]!);
}

export interface ConvRef {
  stride?: [number, number];
  pads?: [number, number, number, number];
  dilation?: [number, number];
  group?: number;
}

/** torch/ONNX Conv: x [N,C,H,W], w [M, C/g, kh, kw]. */
export function conv2d(x: Arr, xs: Shape, w: Arr, ws: Shape, b: Arr | null, o: ConvRef = {}): { y: Float64Array; shape: number[] } {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [m, cg, kh, kw] = ws as [number, number, number, number];
  const [sh, sw] = o.stride ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const g = o.group ?? 1;
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const mg = m / g;
  const shape = [n, m, oh, ow];
  const y = tabulate(shape, ([bn, oc, i, j]) => {
    const grp = Math.floor(oc! / mg);
    let s = b ? b[oc!]! : 0;
    for (let ci = 0; ci < cg; ci++) {
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          const yi = i! * sh - pt + u * dh;
          const xj = j! * sw - pl + v * dw;
          if (yi < 0 || yi >= h || xj < 0 || xj >= wd) continue;
          s += x[((bn! * c + grp * cg + ci) * h + yi) * wd + xj]! * w[((oc! * cg + ci) * kh + u) * kw + v]!;
        }
      }
    }
    return s;
  });
  return { y, shape };
}

/** torch/ONNX ConvTranspose: x [N,C,H,W], w [C, M/g, kh, kw]; scatter form. */
export function convTranspose2d(
  x: Arr,
  xs: Shape,
  w: Arr,
  ws: Shape,
  b: Arr | null,
  o: ConvRef & { outputPadding?: [number, number] } = {},
): { y: Float64Array; shape: number[] } {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [, mg, kh, kw] = ws as [number, number, number, number];
  const [sh, sw] = o.stride ?? [1, 1];
  const [pt, pl, pb, pr] = o.pads ?? [0, 0, 0, 0];
  const [dh, dw] = o.dilation ?? [1, 1];
  const [oph, opw] = o.outputPadding ?? [0, 0];
  const g = o.group ?? 1;
  const cgIn = c / g;
  const m = mg * g;
  const oh = sh * (h - 1) + oph + (kh - 1) * dh + 1 - pt - pb;
  const ow = sw * (wd - 1) + opw + (kw - 1) * dw + 1 - pl - pr;
  const y = new Float64Array(n * m * oh * ow);
  for (let bn = 0; bn < n; bn++) {
    for (let ci = 0; ci < c; ci++) {
      const grp = Math.floor(ci / cgIn);
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < wd; j++) {
          const xv = x[((bn * c + ci) * h + i) * wd + j]!;
          for (let mo = 0; mo < mg; mo++) {
            const oc = grp * mg + mo;
            for (let u = 0; u < kh; u++) {
              for (let v = 0; v < kw; v++) {
                const yi = i * sh - pt + u * dh;
                const yj = j * sw - pl + v * dw;
                if (yi < 0 || yi >= oh || yj < 0 || yj >= ow) continue;
                y[((bn * m + oc) * oh + yi) * ow + yj]! += xv * w[((ci * mg + mo) * kh + u) * kw + v]!;
              }
            }
          }
        }
      }
    }
  }
  if (b) for (let k = 0; k < y.length; k++) y[k]! += b[Math.floor(k / (oh * ow)) % m]!;
  return { y, shape: [n, m, oh, ow] };
}

export function pool2d(
  x: Arr,
  xs: Shape,
  kind: 'max' | 'avg',
  kernel: [number, number],
  stride: [number, number] = kernel,
  pads: [number, number, number, number] = [0, 0, 0, 0],
  countIncludePad = true,
): { y: Float64Array; shape: number[] } {
  const [n, c, h, w] = xs as [number, number, number, number];
  const oh = Math.floor((h + pads[0] + pads[2] - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((w + pads[1] + pads[3] - kernel[1]) / stride[1]) + 1;
  const shape = [n, c, oh, ow];
  const y = tabulate(shape, ([bn, ch, i, j]) => {
    let s = kind === 'max' ? -Infinity : 0;
    let cnt = 0;
    for (let u = 0; u < kernel[0]; u++) {
      for (let v = 0; v < kernel[1]; v++) {
        const yi = i! * stride[0] - pads[0] + u;
        const xj = j! * stride[1] - pads[1] + v;
        if (yi < 0 || yi >= h || xj < 0 || xj >= w) continue;
        const val = x[((bn! * c + ch!) * h + yi) * w + xj]!;
        s = kind === 'max' ? Math.max(s, val) : s + val;
        cnt++;
      }
    }
    return kind === 'max' ? s : s / (countIncludePad ? kernel[0] * kernel[1] : cnt);
  });
  return { y, shape };
}

/** torch F.interpolate(mode='bilinear', align_corners) source coordinate and weights along one axis. */
function linearTaps(outN: number, inN: number, alignCorners: boolean, i: number): [number, number, number] {
  let src = alignCorners ? (outN > 1 ? (i * (inN - 1)) / (outN - 1) : 0) : Math.max((i + 0.5) * (inN / outN) - 0.5, 0);
  src = Math.min(src, inN - 1);
  const i0 = Math.floor(src);
  const i1 = Math.min(i0 + 1, inN - 1);
  return [i0, i1, src - i0];
}

export function resizeLinear(x: Arr, xs: Shape, oh: number, ow: number, alignCorners: boolean): Float64Array {
  const [n, c, h, w] = xs as [number, number, number, number];
  return tabulate([n, c, oh, ow], ([bn, ch, i, j]) => {
    const [a0, a1, fa] = linearTaps(oh, h, alignCorners, i!);
    const [b0, b1, fb] = linearTaps(ow, w, alignCorners, j!);
    const at = (r: number, q: number) => x[((bn! * c + ch!) * h + r) * w + q]!;
    return (1 - fa) * ((1 - fb) * at(a0, b0) + fb * at(a0, b1)) + fa * ((1 - fb) * at(a1, b0) + fb * at(a1, b1));
  });
}

export function upsampleNearest(x: Arr, xs: Shape, f: number): Float64Array {
  const [n, c, h, w] = xs as [number, number, number, number];
  return tabulate([n, c, h * f, w * f], ([bn, ch, i, j]) => x[((bn! * c + ch!) * h + Math.floor(i! / f)) * w + Math.floor(j! / f)]!);
}

/** ONNX pads layout [b0, b1, …, e0, e1, …]. */
export function pad(x: Arr, xs: Shape, pads: readonly number[], mode: 'constant' | 'reflect', value = 0): Float64Array {
  const r = xs.length;
  const st = stridesOf(xs);
  const out = xs.map((d, i) => d + pads[i]! + pads[i + r]!);
  return tabulate(out, (idx) => {
    let off = 0;
    for (let a = 0; a < r; a++) {
      let i = idx[a]! - pads[a]!;
      const n = xs[a]!;
      if (i < 0 || i >= n) {
        if (mode === 'constant') return value;
        i = i < 0 ? -i : 2 * (n - 1) - i;
      }
      off += i * st[a]!;
    }
    return x[off]!;
  });
}

export function reduce(x: Arr, xs: Shape, axes: readonly number[], kind: 'sum' | 'mean' | 'max', keepdims: boolean): Float64Array {
  const ax = axes.map((a) => (a < 0 ? a + xs.length : a));
  const kept = xs.map((d, i) => (ax.includes(i) ? 1 : d));
  const st = stridesOf(xs);
  const inner = ax.map((a) => xs[a]!);
  const y = tabulate(kept, (idx) => {
    let s = kind === 'max' ? -Infinity : 0;
    tabulate(inner, (j) => {
      let off = 0;
      for (let i = 0; i < xs.length; i++) off += (ax.includes(i) ? j[ax.indexOf(i)]! : idx[i]!) * st[i]!;
      s = kind === 'max' ? Math.max(s, x[off]!) : s + x[off]!;
      return 0;
    });
    return kind === 'mean' ? s / numel(inner) : s;
  });
  void keepdims; // same data either way
  return y;
}

/** Softmax over the last axis of a row-major array with rows of length d. */
export function softmaxRows(x: Arr, d: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let m = -Infinity;
    for (let j = 0; j < d; j++) m = Math.max(m, x[r * d + j]!);
    let s = 0;
    for (let j = 0; j < d; j++) s += y[r * d + j] = Math.exp(x[r * d + j]! - m);
    for (let j = 0; j < d; j++) y[r * d + j]! /= s;
  }
  return y;
}

/** Normalises rows of length d to zero mean, unit (biased) variance; then y·w[j % wlen…] + b via affine(j). */
export function standardizeRows(x: Arr, d: number, eps: number, affine: (row: number, j: number, v: number) => number = (_, __, v) => v): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[r * d + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j]! - mean) ** 2;
    v /= d;
    for (let j = 0; j < d; j++) y[r * d + j] = affine(r, j, (x[r * d + j]! - mean) / Math.sqrt(v + eps));
  }
  return y;
}

export function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is only 1e-7 accurate; use a series/continued fraction good to ~1e-12.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
}
