/**
 * Elementwise ops: forward vs a JS reference and gradient vs central finite differences through ONNX
 * Runtime (tolerances: see gradcheck.ts; here h = 1e-2, rtol = 1e-2, forward 1e-4 abs + 1e-4 rel
 * unless a case says otherwise).
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import type { Tensor } from '../../../src/engine/graph/index.ts';
import { U, awayFrom, evaluate, gradcheck, mulberry32, type InputSpec, type Rng } from './gradcheck.ts';
import * as ref from './ref.ts';

/** Values on a grid k·step + offset: two grids offset by half a step never come closer than step/2. */
const grid =
  (step: number, offset: number, lo = -1, hi = 1) =>
  (rng: Rng, n: number) =>
    Float32Array.from({ length: n }, () => Math.round((lo + (hi - lo) * rng()) / step) * step + offset);

type Bin = { op: (a: G.TLike, b: G.TLike) => Tensor; f: (a: number, b: number) => number; ga: InputSpec['gen']; gb: InputSpec['gen'] };
const binaries: Record<string, Bin> = {
  Add: { op: G.add, f: (a, b) => a + b, ga: U(), gb: U() },
  Sub: { op: G.sub, f: (a, b) => a - b, ga: U(), gb: U() },
  Mul: { op: G.mul, f: (a, b) => a * b, ga: U(), gb: U() },
  Div: { op: G.div, f: (a, b) => a / b, ga: U(), gb: awayFrom([0], 0.5) },
  Pow: { op: G.pow, f: (a, b) => a ** b, ga: U(0.5, 2), gb: U(-2, 2) },
  Max: { op: G.maximum, f: Math.max, ga: grid(0.1, 0), gb: grid(0.1, 0.05) },
  Min: { op: G.minimum, f: Math.min, ga: grid(0.1, 0), gb: grid(0.1, 0.05) },
};

const shapeCases: [string, number[], number[]][] = [
  ['same shape', [2, 3], [2, 3]],
  ['[2,3,4] op [3,1]', [2, 3, 4], [3, 1]],
  ['[3,1] op [2,3,4]', [3, 1], [2, 3, 4]],
  ['[2,1,4] op [3,1] (both broadcast)', [2, 1, 4], [3, 1]],
  ['[2,3] op [] (rank-0 tensor)', [2, 3], []],
];

describe('binary elementwise ops', () => {
  for (const [name, b] of Object.entries(binaries)) {
    for (const [label, sa, sb] of shapeCases) {
      it(`${name}: ${label}`, async () => {
        await gradcheck({
          inputs: [
            { shape: sa, gen: b.ga },
            { shape: sb, gen: b.gb },
          ],
          build: (_, [x, y]) => b.op(x!, y!),
          reference: ([x, y]) => ref.binary(x!, sa, y!, sb, b.f),
        });
      });
    }
    // scalar operands: a number lifted to a constant on either side
    const k = name === 'Pow' ? 1.5 : name === 'Div' ? 0.7 : 0.375;
    it(`${name}: tensor op number and number op tensor`, async () => {
      const shape = [2, 3, 4];
      const gen = name === 'Pow' ? U(0.5, 2) : name === 'Div' ? awayFrom([0], 0.4) : grid(0.1, 0.025);
      await gradcheck({
        inputs: [{ shape, gen }],
        build: (_, [x]) => G.add(b.op(x!, k), b.op(k, x!)),
        reference: ([x]) => Float64Array.from(x as Float32Array, (v) => b.f(v, k) + b.f(k, v)),
      });
    });
  }
});

type Un = { op: (x: Tensor) => Tensor; f: (x: number) => number; gen: InputSpec['gen']; noGrad?: boolean };
const sig = (x: number) => 1 / (1 + Math.exp(-x));
const unaries: Record<string, Un> = {
  Neg: { op: G.neg, f: (x) => -x, gen: U() },
  Sqrt: { op: G.sqrt, f: Math.sqrt, gen: U(0.3, 2) },
  Exp: { op: G.exp, f: Math.exp, gen: U(-2, 2) },
  Log: { op: G.log, f: Math.log, gen: U(0.3, 3) },
  Abs: { op: G.abs, f: Math.abs, gen: awayFrom([0], 0.05) },
  Sigmoid: { op: G.sigmoid, f: sig, gen: U(-4, 4) },
  Tanh: { op: G.tanh, f: Math.tanh, gen: U(-2, 2) },
  Asin: { op: G.asin, f: Math.asin, gen: U(-0.8, 0.8) },
  Erf: { op: G.erf, f: ref.erf, gen: U(-2, 2) },
  Relu: { op: G.relu, f: (x) => Math.max(x, 0), gen: awayFrom([0], 0.05) },
  Reciprocal: { op: G.reciprocal, f: (x) => 1 / x, gen: awayFrom([0], 0.5) },
  Identity: { op: G.identity, f: (x) => x, gen: U() },
  square: { op: G.square, f: (x) => x * x, gen: U(-2, 2) },
  swish: { op: G.swish, f: (x) => x * sig(x), gen: U(-4, 4) },
  quickGelu: { op: G.quickGelu, f: (x) => x * sig(1.702 * x), gen: U(-4, 4) },
  'Sign (no gradient)': { op: G.sign, f: Math.sign, gen: awayFrom([0], 0.05), noGrad: true },
  'Floor (no gradient)': { op: G.floor, f: Math.floor, gen: awayFrom([-2, -1, 0, 1, 2], 0.05, -2.5, 2.5), noGrad: true },
};

describe('unary elementwise ops', () => {
  for (const [name, u] of Object.entries(unaries)) {
    it(name, async () => {
      const r = await gradcheck({
        inputs: [{ shape: [2, 3, 4], gen: u.gen }],
        build: (_, [x]) => u.op(x!),
        reference: ([x]) => Float64Array.from(x as Float32Array, u.f),
      });
      if (u.noGrad) expect(Array.from(r.grads[0]!).every((v) => v === 0)).toBe(true);
    });
  }
});

describe('Where', () => {
  const bits = (rng: Rng, n: number) => Uint8Array.from({ length: n }, () => (rng() < 0.5 ? 1 : 0));
  it('bool condition [2,3,4], x [3,1], y [4] (broadcast gradients summed back)', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 3, 4], dtype: 'bool', gen: bits }, { shape: [3, 1] }, { shape: [4] }],
      build: (_, [c, x, y]) => G.where(c!, x!, y!),
      reference: ([c, x, y]) => ref.tabulate([2, 3, 4], ([i, j, k]) => (c![(i! * 3 + j!) * 4 + k!] ? x![j!]! : y![k!]!)),
    });
  });
  it('number operand on either side, condition computed in the graph', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 4], gen: awayFrom([0], 0.05) }],
      build: (_, [x]) => G.add(G.where(G.greater(x!, 0), x!, -0.5), G.where(G.less(x!, 0), 2, G.mul(x!, x!))),
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => (v > 0 ? v : -0.5) + (v < 0 ? 2 : v * v)),
    });
  });
});

describe('Cast', () => {
  it('bool → float32 mask times x: gradient is the mask; float32 → float32 is elided', async () => {
    const r = await gradcheck({
      inputs: [{ shape: [2, 5], gen: awayFrom([0], 0.05) }],
      build: (_, [x]) => G.mul(G.cast(G.cast(G.greater(x!, 0), 'float32'), 'float32'), x!),
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => (v > 0 ? v : 0)),
    });
    const x = r.xs[0] as Float32Array;
    // L = sum(mask·x·R) → dL/dx = mask·R; only the sign pattern is checked here, the values by gradcheck
    r.grads[0]!.forEach((gv, i) => expect(gv === 0).toBe(x[i]! < 0));
  });
  it('float32 → int64 truncates toward zero (forward only)', async () => {
    const xs = Float32Array.from([-1.7, -0.2, 0.2, 1.7, 2.5, -2.5]);
    const { y } = await evaluate([{ shape: [6], diff: false }], (_, [x]) => G.cast(G.cast(x!, 'int64'), 'float32'), [xs]);
    expect(Array.from(y, (v) => v + 0)).toEqual([-1, 0, 0, 1, 2, -2]);
  });
});

describe('comparison and logic ops carry no gradient', () => {
  it('Equal/Less/Greater/LessOrEqual/GreaterOrEqual/And/Or/Not (forward)', async () => {
    const a = Float32Array.from([0, 1, 2, 3]);
    const b = Float32Array.from([1, 1, 1, 1]);
    const bits = (t: Tensor) => G.cast(t, 'float32');
    const { y } = await evaluate(
      [
        { shape: [4], diff: false },
        { shape: [4], diff: false },
      ],
      (_, [x, y]) =>
        G.concat(
          [
            bits(G.equal(x!, y!)),
            bits(G.less(x!, y!)),
            bits(G.greater(x!, y!)),
            bits(G.lessOrEqual(x!, y!)),
            bits(G.greaterOrEqual(x!, y!)),
            bits(G.and(G.greater(x!, 0), G.less(x!, 3))),
            bits(G.or(G.equal(x!, 0), G.equal(x!, 3))),
            bits(G.not(G.equal(x!, y!))),
          ],
          0,
        ),
      [a, b],
    );
    expect(Array.from(y)).toEqual([0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1]);
  });
  it('on the gradient path they select where the gradient goes (Equal/LessOrEqual/GreaterOrEqual/And/Or/Not)', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 8], gen: awayFrom([-1, -0.5, 0, 0.5], 0.05) }],
      build: (_, [x]) => {
        const band = G.and(G.greaterOrEqual(x!, -0.5), G.lessOrEqual(x!, 0.5));
        const negUnit = G.equal(G.floor(x!), -1);
        return G.where(G.or(band, G.not(negUnit)), G.square(x!), G.mul(x!, 3));
      },
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => ((v >= -0.5 && v <= 0.5) || Math.floor(v) !== -1 ? v * v : 3 * v)),
    });
  });
  it('a random input generator is seeded (same seed, same values)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});
