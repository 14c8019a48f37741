/**
 * Gradient checking through ONNX Runtime.
 *
 * gradcheck() builds y = build(g, inputs), a loss L = sum(y · R) with a fixed random R, the analytic
 * gradients dL/dx via grad(), serialises the graph once and creates one ORT session whose outputs are y
 * and the gradients. One run gives the analytic gradients; the finite differences reuse the same
 * session (fetching y only) and compute L in float64 on the host, so float32 rounding of the loss sum
 * does not eat the difference:
 *
 *   directional: (L(x + h·v) − L(x − h·v)) / 2h  ≈  <∇L, v>   for `directions` random v ∈ U(−1,1)
 *   full:        (L(x + h·e_j) − L(x − h·e_j)) / 2h  ≈  ∂L/∂x_j  for every element (small inputs)
 *
 * Tolerance (both checks): |fd − analytic| ≤ rtol · scale + atol + 4·noise, where scale is the RMS of
 * the analytic directional derivatives (directional check) or max |∂L/∂x| (full check), and noise is
 * the float32 rounding bound of the two loss evaluations, 2⁻²⁴ · Σ|R_i|(|y⁺_i| + |y⁻_i|) / 2h.
 * Defaults: h = 1e-2, rtol = 1e-2, atol = 1e-5. Inputs to non-smooth ops must sit farther than h from
 * their kinks (use awayFrom / spaced below).
 *
 * The forward is compared with an optional JS reference: |y − ref| ≤ fwdAtol + fwdRtol · |ref|
 * (defaults 1e-4, 1e-4).
 *
 * Each passing check adds the ops on its gradient path to `gradcheckedOps` (evaluate(): to
 * `evaluatedOps`), which gradient-coverage.test.ts compares with the ops that have a gradient rule.
 */
import {
  Graph,
  Session,
  grad,
  mul,
  serialize,
  sumAll,
  type DType,
  type OpName,
  type Tensor,
  type HostArray,
} from '../../../src/engine/graph/index.ts';

// ------------------------------------------------------------------------------------------------
// seeded random numbers

export type Rng = () => number;

/** mulberry32: a small, fast, seeded uniform [0, 1) generator. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function uniform(rng: Rng, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
}

export function normal(rng: Rng, n: number, std = 1): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = 1 - rng();
    return std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
  });
}

/** A value generator: uniform in [lo, hi]. */
export const U =
  (lo = -1, hi = 1) =>
  (rng: Rng, n: number): Float32Array =>
    uniform(rng, n, lo, hi);

/** Uniform in [lo, hi] but at least `margin` away from every point in `kinks` (for |x|, relu, clip…). */
export const awayFrom =
  (kinks: readonly number[], margin: number, lo = -2, hi = 2) =>
  (rng: Rng, n: number): Float32Array =>
    Float32Array.from({ length: n }, () => {
      for (;;) {
        const v = lo + (hi - lo) * rng();
        if (kinks.every((k) => Math.abs(v - k) > margin)) return v;
      }
    });

/** n distinct values, pairwise at least `gap` apart, in random order (no ties for max/argmax). */
export const spaced =
  (gap = 0.05, offset = -1) =>
  (rng: Rng, n: number): Float32Array => {
    const v = Float32Array.from({ length: n }, (_, i) => offset + i * gap);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [v[i], v[j]] = [v[j]!, v[i]!];
    }
    return v;
  };

export const int64 = (values: readonly number[]): BigInt64Array => BigInt64Array.from(values, (v) => BigInt(v));

// ------------------------------------------------------------------------------------------------
// compiling and running a graph

export interface InputSpec {
  shape: readonly number[];
  /** default float32 */
  dtype?: DType;
  /** differentiable (default: true for float32 inputs) */
  diff?: boolean;
  /** fixed values (wins over gen) */
  value?: HostArray;
  /** value generator (default U(-1, 1)) */
  gen?: (rng: Rng, n: number) => HostArray;
}

export type Builder = (g: Graph, xs: Tensor[]) => Tensor;

export interface Compiled {
  session: Session;
  graph: Graph;
  y: Tensor;
  /** the op types between the differentiable inputs and y (the forward nodes whose gradients grad() used) */
  gradientPath: Set<OpName>;
  nodeCount: number;
  /** forward output only */
  forward(xs: readonly HostArray[]): Promise<Float32Array>;
  /** y and the gradients for the differentiable inputs (in input order) */
  run(xs: readonly HostArray[]): Promise<{ y: Float32Array; grads: Float32Array[] }>;
}

/**
 * Builds y = build(g, xs), and when `seed` is given L = sum(y · seed) and dL/dx for each input marked
 * diff; one session, created once.
 */
export async function compile(specs: readonly InputSpec[], build: Builder, seed?: Float32Array): Promise<Compiled> {
  const g = new Graph();
  const xs = specs.map((s, i) => g.input(`x${i}`, s.shape, s.dtype ?? 'float32'));
  const y = build(g, xs);
  if (y.dtype !== 'float32') throw new Error(`gradcheck: builder returned ${y}, expected float32`);
  g.output(y, 'y');
  const diffIdx = specs.map((s, i) => (isDiff(s) ? i : -1)).filter((i) => i >= 0);
  const gradientPath = opsBetween(g, diffIdx.map((i) => xs[i]!), y);
  if (seed && diffIdx.length) {
    const r = g.constant(seed, y.shape, 'R');
    const L = sumAll(mul(y, r));
    const gs = grad(L, diffIdx.map((i) => xs[i]!));
    gs.forEach((t, k) => g.output(t, `g${diffIdx[k]}`));
  }
  const model = serialize(g);
  const session = await Session.create(model, { threads: 1 });
  const feeds = (vals: readonly HostArray[]) => Object.fromEntries(vals.map((v, i) => [`x${i}`, v]));
  return {
    session,
    graph: g,
    y,
    gradientPath,
    nodeCount: model.nodeCount,
    forward: async (vals) => (await session.run(feeds(vals), ['y'])).y as Float32Array,
    run: async (vals) => {
      const out = await session.run(feeds(vals));
      return { y: out.y as Float32Array, grads: diffIdx.map((i) => out[`g${i}`] as Float32Array) };
    },
  };
}

/** Op types of the nodes (built so far) that depend on one of `from` and that y depends on. */
function opsBetween(g: Graph, from: readonly Tensor[], y: Tensor): Set<OpName> {
  const reached = new Set(from.map((t) => t.id));
  for (const n of g.nodes) if (n.inputs.some((t) => reached.has(t.id))) for (const o of n.outputs) reached.add(o.id);
  const needed = new Set([y.id]);
  const ops = new Set<OpName>();
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o.id))) continue;
    for (const t of n.inputs) needed.add(t.id);
    if (n.inputs.some((t) => reached.has(t.id))) ops.add(n.op);
  }
  return ops;
}

function isDiff(s: InputSpec): boolean {
  return s.diff ?? (s.dtype ?? 'float32') === 'float32';
}

export function makeInputs(specs: readonly InputSpec[], rng: Rng): HostArray[] {
  return specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = s.value ?? (s.gen ?? U())(rng, n);
    if (v.length !== n) throw new Error(`gradcheck: ${v.length} values for shape [${s.shape.join(',')}]`);
    return v;
  });
}

// ------------------------------------------------------------------------------------------------
// the check

export interface GradcheckOptions {
  inputs: readonly InputSpec[];
  build: Builder;
  /** JS reference of the forward, on the same input values (non-float inputs are passed as they are) */
  reference?: (xs: Float32Array[]) => ArrayLike<number>;
  seed?: number;
  /** finite-difference step (default 1e-2) */
  h?: number;
  /** random directions for the directional check (default 6) */
  directions?: number;
  /** per-element check; default: when the differentiable inputs have ≤ 48 elements in all */
  full?: boolean;
  rtol?: number;
  atol?: number;
  fwdRtol?: number;
  fwdAtol?: number;
}

export interface GradcheckReport {
  xs: HostArray[];
  y: Float32Array;
  grads: Float32Array[];
  /** worst |fd − analytic| / (rtol·scale + atol + 4·noise) seen; ≤ 1 passes */
  worst: number;
  nodeCount: number;
}

export class GradcheckError extends Error {
  override name = 'GradcheckError';
}

/** Op types on the gradient path of every gradcheck() that passed in this test process. */
export const gradcheckedOps = new Set<OpName>();
/** Op types on the gradient path of every evaluate() (whose gradients the tests compare with exact values). */
export const evaluatedOps = new Set<OpName>();

export async function gradcheck(o: GradcheckOptions): Promise<GradcheckReport> {
  const rng = mulberry32(o.seed ?? 1234);
  const h = o.h ?? 1e-2;
  const rtol = o.rtol ?? 1e-2;
  const atol = o.atol ?? 1e-5;
  const xs = makeInputs(o.inputs, rng);
  const diffIdx = o.inputs.map((s, i) => (isDiff(s) ? i : -1)).filter((i) => i >= 0);

  // R must match y's shape, known only after building: build once to learn it (cheap), then compile.
  const probe = new Graph();
  const yShape = o.build(probe, o.inputs.map((s, i) => probe.input(`x${i}`, s.shape, s.dtype ?? 'float32'))).shape;
  const R = normal(rng, yShape.reduce((a, b) => a * b, 1));
  const c = await compile(o.inputs, o.build, R);
  try {
    const { y, grads } = await c.run(xs);
    for (const [k, gk] of grads.entries()) {
      if (gk.some((v) => !Number.isFinite(v))) throw new GradcheckError(`gradient for input ${diffIdx[k]} is not finite: ${fmtArr(gk)}`);
    }

    if (o.reference) {
      const ref = o.reference(xs as Float32Array[]);
      if (ref.length !== y.length) throw new GradcheckError(`forward: reference has ${ref.length} values, y has ${y.length}`);
      const fr = o.fwdRtol ?? 1e-4;
      const fa = o.fwdAtol ?? 1e-4;
      for (let i = 0; i < y.length; i++) {
        if (!(Math.abs(y[i]! - ref[i]!) <= fa + fr * Math.abs(ref[i]!))) {
          throw new GradcheckError(`forward differs from the JS reference at ${i}: ${y[i]} vs ${ref[i]}\n y  =${fmtArr(y)}\n ref=${fmtArr(ref)}`);
        }
      }
    }

    const loss = (yy: Float32Array) => {
      let s = 0;
      for (let i = 0; i < yy.length; i++) s += yy[i]! * R[i]!;
      return s;
    };
    const noiseOf = (yp: Float32Array, ym: Float32Array) => {
      let s = 0;
      for (let i = 0; i < yp.length; i++) s += Math.abs(R[i]!) * (Math.abs(yp[i]!) + Math.abs(ym[i]!));
      return (s * 2 ** -24) / (2 * h);
    };
    const perturbed = (dir: Float32Array[], sign: number): HostArray[] =>
      xs.map((x, i) => {
        const k = diffIdx.indexOf(i);
        if (k < 0) return x;
        const d = dir[k]!;
        return Float32Array.from(x as Float32Array, (v, j) => v + sign * h * d[j]!);
      });
    const central = async (dir: Float32Array[]) => {
      const yp = await c.forward(perturbed(dir, 1));
      const ym = await c.forward(perturbed(dir, -1));
      return { fd: (loss(yp) - loss(ym)) / (2 * h), noise: noiseOf(yp, ym) };
    };
    let worst = 0;

    // directional check
    const nd = o.directions ?? 6;
    const rows: { fd: number; an: number; noise: number }[] = [];
    for (let k = 0; k < nd && diffIdx.length; k++) {
      const dir = diffIdx.map((i) => uniform(rng, xs[i]!.length));
      let an = 0;
      dir.forEach((d, m) => d.forEach((v, j) => (an += v * grads[m]![j]!)));
      rows.push({ ...(await central(dir)), an });
    }
    if (rows.length) {
      const scale = Math.sqrt(rows.reduce((s, r) => s + r.an * r.an, 0) / rows.length);
      for (const r of rows) {
        const tol = rtol * scale + atol + 4 * r.noise;
        worst = Math.max(worst, Math.abs(r.fd - r.an) / tol);
      }
      if (worst > 1) {
        throw new GradcheckError(
          `directional derivatives differ (rtol ${rtol}, h ${h}):\n` +
            rows.map((r) => `  fd ${r.fd.toPrecision(7)}  analytic ${r.an.toPrecision(7)}  noise ${r.noise.toExponential(1)}`).join('\n') +
            `\n grads: ${grads.map((gk) => fmtArr(gk)).join('\n        ')}`,
        );
      }
    }

    // per-element check
    const total = diffIdx.reduce((s, i) => s + xs[i]!.length, 0);
    if (o.full ?? total <= 48) {
      for (let m = 0; m < diffIdx.length; m++) {
        const gk = grads[m]!;
        const scale = gk.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
        const fds = new Float64Array(gk.length);
        for (let j = 0; j < gk.length; j++) {
          const dir = diffIdx.map((i) => new Float32Array(xs[i]!.length));
          dir[m]![j] = 1;
          const { fd, noise } = await central(dir);
          fds[j] = fd;
          const tol = rtol * scale + atol + 4 * noise;
          const ratio = Math.abs(fd - gk[j]!) / tol;
          worst = Math.max(worst, ratio);
          if (ratio > 1) {
            throw new GradcheckError(
              `input ${diffIdx[m]}, element ${j}: finite difference ${fd} vs analytic ${gk[j]} (tol ${tol.toExponential(2)})\n analytic: ${fmtArr(gk)}`,
            );
          }
        }
      }
    }
    for (const op of c.gradientPath) gradcheckedOps.add(op);
    return { xs, y, grads, worst, nodeCount: c.nodeCount };
  } finally {
    await c.session.release();
  }
}

/** Runs build once with given values and returns y and the gradients of sum(y · seed) (seed default: ones). */
export async function evaluate(
  specs: readonly InputSpec[],
  build: Builder,
  values: readonly HostArray[],
  seed?: Float32Array,
): Promise<{ y: Float32Array; grads: Float32Array[]; nodeCount: number }> {
  const probe = new Graph();
  const n = build(probe, specs.map((s, i) => probe.input(`x${i}`, s.shape, s.dtype ?? 'float32'))).size;
  const c = await compile(specs, build, seed ?? new Float32Array(n).fill(1));
  try {
    const out = await c.run(values);
    for (const op of c.gradientPath) evaluatedOps.add(op);
    return { ...out, nodeCount: c.nodeCount };
  } finally {
    await c.session.release();
  }
}

function fmtArr(a: ArrayLike<number>): string {
  const v = Array.from(a).slice(0, 24).map((x) => (Number.isInteger(x) ? String(x) : x.toPrecision(5)));
  return `[${v.join(', ')}${a.length > 24 ? `, … (${a.length})` : ''}]`;
}
