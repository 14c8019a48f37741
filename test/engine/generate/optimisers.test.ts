/**
 * AdamP and DiffGrad against float64 references written here from the published algorithms, as
 * torch_optimizer implements them (AdamP: Heo et al. 2021, Algorithm 2 with torch_optimizer's eps
 * placement; DiffGrad: Dubey et al. 2019), over several steps, with and without weight decay, and with
 * Nesterov momentum for AdamP. The engine keeps its state in float32, like torch: the tolerance is
 * relative to the size of the total move.
 */
import { describe, expect, it } from 'vitest';
import { createOptimiser, type OptimiserOptions } from '../../../src/engine/generate/optimisers.ts';
import { mulberry32 } from '../graph/gradcheck.ts';

const B1 = 0.9;
const B2 = 0.999;
const EPS = 1e-8;

/** One parameter tensor: its shape and float64 data (rows × cols views are derived from the shape). */
interface P64 {
  shape: number[];
  x: Float64Array;
  m: Float64Array;
  v: Float64Array;
  prev: Float64Array;
}
const tensor = (shape: number[], x: ArrayLike<number>): P64 => {
  const n = x.length;
  return { shape, x: Float64Array.from(x), m: new Float64Array(n), v: new Float64Array(n), prev: new Float64Array(n) };
};

const norm = (a: ArrayLike<number>, lo: number, hi: number) => {
  let s = 0;
  for (let i = lo; i < hi; i++) s += a[i]! ** 2;
  return Math.sqrt(s);
};

/** torch_optimizer.AdamP.step for one tensor (delta 0.1, wd_ratio 0.1). */
function adampRef(p: P64, g: Float64Array, t: number, lr: number, wd: number, nesterov: boolean): void {
  const n = p.x.length;
  for (let i = 0; i < n; i++) {
    p.m[i] = B1 * p.m[i]! + (1 - B1) * g[i]!;
    p.v[i] = B2 * p.v[i]! + (1 - B2) * g[i]! ** 2;
  }
  const bc1 = 1 - B1 ** t;
  const bc2 = 1 - B2 ** t;
  const perturb = Float64Array.from(p.x, (_, i) => (nesterov ? B1 * p.m[i]! + (1 - B1) * g[i]! : p.m[i]!) / (Math.sqrt(p.v[i]!) / Math.sqrt(bc2) + EPS));
  let ratio = 1;
  if (p.shape.length > 1) {
    for (const rows of [p.shape[0]!, 1]) {
      const cols = n / rows;
      const rowNorm = (a: ArrayLike<number>, r: number) => norm(a, r * cols, (r + 1) * cols) + EPS;
      let maxCos = 0;
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let c = r * cols; c < (r + 1) * cols; c++) dot += g[c]! * p.x[c]!;
        maxCos = Math.max(maxCos, Math.abs(dot) / rowNorm(g, r) / rowNorm(p.x, r));
      }
      if (maxCos < 0.1 / Math.sqrt(cols)) {
        for (let r = 0; r < rows; r++) {
          const pn = Float64Array.from({ length: cols }, (_, k) => p.x[r * cols + k]! / rowNorm(p.x, r));
          const along = pn.reduce((s, q, k) => s + q * perturb[r * cols + k]!, 0);
          pn.forEach((q, k) => (perturb[r * cols + k]! -= q * along));
        }
        ratio = 0.1;
        break;
      }
    }
  }
  if (wd > 0) p.x.forEach((xi, i) => (p.x[i] = xi * (1 - lr * wd * ratio)));
  p.x.forEach((xi, i) => (p.x[i] = xi - (lr / bc1) * perturb[i]!));
}

/** torch_optimizer.DiffGrad.step for one tensor. */
function diffgradRef(p: P64, g0: Float64Array, t: number, lr: number, wd: number): void {
  const bc1 = 1 - B1 ** t;
  const bc2 = 1 - B2 ** t;
  for (let i = 0; i < p.x.length; i++) {
    const g = g0[i]! + wd * p.x[i]!;
    p.m[i] = B1 * p.m[i]! + (1 - B1) * g;
    p.v[i] = B2 * p.v[i]! + (1 - B2) * g * g;
    const dfc = 1 / (1 + Math.exp(-Math.abs(p.prev[i]! - g)));
    p.prev[i] = g;
    p.x[i] = p.x[i]! - ((lr * Math.sqrt(bc2)) / bc1) * ((p.m[i]! * dfc) / (Math.sqrt(p.v[i]!) + EPS));
  }
}

const SHAPES = [[4, 6], [5], [2, 3, 2, 2], [1, 8]];

/**
 * Gradients for the tensors at step k: plain random ones, some orthogonal to each row of the weight
 * (AdamP's channel-wise projection fires), and one where each row's gradient is parallel to it but the
 * rows cancel over the whole tensor (only the layer-wise projection fires).
 */
function gradients(xs: Float64Array[], k: number, rng: () => number): Float64Array[] {
  return xs.map((x, j) => {
    const shape = SHAPES[j]!;
    const g = Float64Array.from(x, () => 2 * rng() - 1);
    if (shape.length < 2 || k % 3 === 0) return g;
    const rows = shape[0]!;
    const cols = x.length / rows;
    if (k % 3 === 1) {
      for (let r = 0; r < rows; r++) {
        const lo = r * cols;
        let dot = 0;
        for (let c = lo; c < lo + cols; c++) dot += g[c]! * x[c]!;
        const pp = norm(x, lo, lo + cols) ** 2;
        for (let c = lo; c < lo + cols; c++) g[c]! -= (dot / pp) * x[c]!;
      }
      return g;
    }
    if (rows < 2) return g;
    // row r: g = a_r · x_r with Σ_r a_r ‖x_r‖² = 0
    const sq = Array.from({ length: rows }, (_, r) => norm(x, r * cols, (r + 1) * cols) ** 2);
    const a = sq.map((_, r) => (r < rows - 1 ? 0.5 + rng() : 0));
    a[rows - 1] = -a.slice(0, -1).reduce((s, ar, r) => s + ar * sq[r]!, 0) / sq[rows - 1]!;
    return Float64Array.from(x, (xi, i) => a[Math.floor(i / cols)]! * xi);
  });
}

function compare(name: 'AdamP' | 'DiffGrad', opts: OptimiserOptions, lr: number, steps = 8): void {
  const rng = mulberry32(7);
  const init = SHAPES.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => 2 * rng() - 1));
  const refs = init.map((x, j) => tensor(SHAPES[j]!, x));
  const size = init.reduce((s, x) => s + x.length, 0);
  const z = new Float32Array(size);
  let off = 0;
  for (const x of init) {
    z.set(x, off);
    off += x.length;
  }
  const start = Float64Array.from(z);
  const opt = createOptimiser(name, lr, size, { ...opts, shapes: SHAPES });
  for (let k = 0; k < steps; k++) {
    // the gradient is computed from the engine's weights (float32), as torch would see them
    const views = refs.map((_, j) => Float64Array.from(z.subarray(offsetOf(j), offsetOf(j) + refs[j]!.x.length)));
    const gs = gradients(views, k, rng).map((g) => Float32Array.from(g));
    const flat = new Float32Array(size);
    gs.forEach((g, j) => flat.set(g, offsetOf(j)));
    refs.forEach((p, j) => {
      const g = Float64Array.from(gs[j]!);
      if (name === 'AdamP') adampRef(p, g, k + 1, lr, opts.weightDecay ?? 0, opts.nesterov ?? false);
      else diffgradRef(p, g, k + 1, lr, opts.weightDecay ?? 0);
    });
    opt.step(z, flat);
    // restart the reference from the engine's weights so float32 rounding does not compound
    const want = refs.map((p) => p.x);
    let moved = 0;
    let err = 0;
    want.forEach((w, j) => {
      w.forEach((wi, i) => {
        const zi = z[offsetOf(j) + i]!;
        moved = Math.max(moved, Math.abs(wi - start[offsetOf(j) + i]!));
        err = Math.max(err, Math.abs(zi - wi));
      });
    });
    expect(err, `${name} ${JSON.stringify(opts)} step ${k + 1}`).toBeLessThanOrEqual(2e-6 * Math.max(moved, lr) + 2e-7);
    refs.forEach((p, j) => p.x.set(z.subarray(offsetOf(j), offsetOf(j) + p.x.length)));
  }

  function offsetOf(j: number): number {
    let o = 0;
    for (let i = 0; i < j; i++) o += SHAPES[i]!.reduce((a, b) => a * b, 1);
    return o;
  }
}

describe('AdamP (torch_optimizer)', () => {
  for (const opts of [{}, { weightDecay: 0.05 }, { nesterov: true }, { nesterov: true, weightDecay: 0.05 }] as OptimiserOptions[]) {
    it(`follows the reference for 8 steps ${JSON.stringify(opts)}`, () => {
      compare('AdamP', opts, 0.1);
    });
  }

  it('projects each row: a gradient orthogonal to the weight rows loses the radial part of its step', () => {
    const z = Float32Array.of(3, 4, 0, 0, 0, 5);
    const g = Float32Array.of(-4, 3, 0, 0, 1, 0);
    createOptimiser('AdamP', 0.01, 6, { shapes: [[2, 3]] }).step(z, g);
    // first step: perturb = 0.1·sign(g), step size lr / (1 − β1) = 0.1. Row 0: p̂ = (0.6, 0.8, 0),
    // p̂·perturb = 0.02, perturb − 0.02 p̂ = (−0.112, 0.084, 0). Row 1: perturb ⟂ p̂ already.
    const want = [3.0112, 3.9916, 0, 0, -0.01, 5];
    [...z].forEach((v, i) => expect(v, `element ${i}`).toBeCloseTo(want[i]!, 6));
  });

  it('a 1-D vector (no shapes given) is plain Adam', () => {
    const g = Float32Array.of(0.5, -2, 0, 3);
    const a = Float32Array.of(1, 1, 1, 1);
    const b = a.slice();
    const adamp = createOptimiser('AdamP', 0.1, 4);
    const adam = createOptimiser('Adam', 0.1, 4);
    for (let k = 0; k < 3; k++) {
      adamp.step(a, g);
      adam.step(b, g);
    }
    [...a].forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 6));
  });

  it('refuses shapes that do not cover the vector', () => {
    expect(() => createOptimiser('AdamP', 0.1, 10, { shapes: [[2, 3]] })).toThrow(/6 values, the vector has 10/);
  });
});

describe('DiffGrad (torch_optimizer)', () => {
  for (const opts of [{}, { weightDecay: 0.05 }] as OptimiserOptions[]) {
    it(`follows the reference for 8 steps ${JSON.stringify(opts)}`, () => {
      compare('DiffGrad', opts, 0.075);
    });
  }

  it('first step: friction sigmoid(|g|) scales the Adam step', () => {
    const g = Float32Array.of(0.5, -2, 0, 3);
    const z = Float32Array.of(1, 1, 1, 1);
    createOptimiser('DiffGrad', 0.1, 4).step(z, g);
    const want = [...g].map((gi) => 1 - (0.1 * Math.sign(gi) * 1) / (1 + Math.exp(-Math.abs(gi))));
    [...z].forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
  });
});
