/**
 * Clip and the custom-gradient constructs. Clip is checked by finite differences (h = 1e-2,
 * rtol = 1e-2, inputs ≥ 0.05 from the bounds); stopGradient, replaceGrad and clampWithGrad have
 * gradients that finite differences cannot see, so they are checked exactly on chosen values.
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { awayFrom, evaluate, gradcheck } from './gradcheck.ts';

const f32 = (a: readonly number[]) => a.map(Math.fround);

describe('Clip', () => {
  it('gradient inside the range, zero outside', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 8], gen: awayFrom([-0.5, 0.75], 0.05) }],
      build: (_, [x]) => G.clip(x!, -0.5, 0.75),
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => Math.min(Math.max(v, -0.5), 0.75)),
    });
  });
  it('exactly on the bounds the gradient passes (inclusive range)', async () => {
    const x = Float32Array.from([-1, 0, 0.5, 1, 2]);
    const { y, grads } = await evaluate([{ shape: [5] }], (_, [t]) => G.clip(t!, 0, 1), [x]);
    expect(Array.from(y)).toEqual([0, 0, 0.5, 1, 1]);
    expect(Array.from(grads[0]!)).toEqual([0, 1, 1, 1, 0]);
  });
  it('min > max is a build-time error', () => {
    const g = new G.Graph();
    expect(() => G.clip(g.input('x', [2]), 1, 0)).toThrow(/Clip: min 1 > max 0/);
  });
});

describe('stopGradient', () => {
  it('forward is the identity, the gradient is zero', async () => {
    const x = Float32Array.from([0.5, -2, 3]);
    const { y, grads } = await evaluate([{ shape: [3] }], (_, [t]) => G.mul(G.stopGradient(t!), 4), [x]);
    expect(Array.from(y)).toEqual([2, -8, 12]);
    expect(Array.from(grads[0]!)).toEqual([0, 0, 0]);
  });
  it('x · stop(x): only the non-stopped path carries gradient', async () => {
    const x = Float32Array.from([0.5, -2, 3]);
    const seed = Float32Array.from([1, 2, -1]);
    const { y, grads } = await evaluate([{ shape: [3] }], (_, [t]) => G.mul(t!, G.stopGradient(t!)), [x], seed);
    expect(Array.from(y)).toEqual([0.25, 4, 9]);
    expect(Array.from(grads[0]!)).toEqual([0.5, -4, -3]); // stop(x)·seed, not 2x·seed
  });
});

describe('replaceGrad', () => {
  it('forward from the first argument, gradient to the second', async () => {
    const x = Float32Array.from([0.5, -2, 3]);
    const seed = Float32Array.from([1, 2, -1]);
    const { y, grads } = await evaluate(
      [{ shape: [3] }],
      (_, [t]) => G.replaceGrad(G.mul(t!, t!), G.mul(t!, 3)),
      [x],
      seed,
    );
    expect(Array.from(y)).toEqual([0.25, 4, 9]);
    expect(Array.from(grads[0]!)).toEqual([3, 6, -3]); // d(3x)/dx · seed
  });
  it('two different inputs: no gradient reaches the forward one', async () => {
    const { y, grads } = await evaluate(
      [{ shape: [2] }, { shape: [2] }],
      (_, [a, b]) => G.replaceGrad(G.exp(a!), G.mul(b!, b!)),
      [Float32Array.from([0, 0]), Float32Array.from([1, -2])],
    );
    expect(Array.from(y)).toEqual([1, 1]);
    expect(Array.from(grads[0]!)).toEqual([0, 0]);
    expect(Array.from(grads[1]!)).toEqual([2, -4]);
  });
  it('shape mismatch is a build-time error', () => {
    const g = new G.Graph();
    expect(() => G.replaceGrad(g.input('a', [2, 3]), g.input('b', [3, 2]))).toThrow(/ReplaceGrad: \[2,3\] vs \[3,2\]/);
  });
});

describe('clampWithGrad', () => {
  it('forward clamps; gradient g·(g·(x − clamp(x)) ≥ 0), exactly on chosen values', async () => {
    // below, inside, on the bounds and above the range [0, 1], each with a positive and a negative g
    const xv = [-0.5, -0.5, 0.25, 0.25, 0, 0, 1, 1, 1.5, 1.5];
    const gv = [2, -2, 3, -3, 1, -1, 0.5, -0.5, 4, -4];
    const x = Float32Array.from(xv);
    const { y, grads } = await evaluate([{ shape: [10] }], (_, [t]) => G.clampWithGrad(t!, 0, 1), [x], Float32Array.from(gv));
    expect(Array.from(y)).toEqual(f32(xv.map((v) => Math.min(Math.max(v, 0), 1))));
    const want = xv.map((v, i) => {
      const g = gv[i]!;
      return g * (v - Math.min(Math.max(v, 0), 1)) >= 0 ? g : 0;
    });
    // below with g > 0: a descent step would push x further down → 0; with g < 0 → passes; above mirrored
    expect(Array.from(grads[0]!)).toEqual([0, -2, 3, -3, 1, -1, 0.5, -0.5, 4, 0]);
    expect(Array.from(grads[0]!)).toEqual(want);
  });
  it('inside the range it passes the gradient: matches finite differences', async () => {
    await gradcheck({
      inputs: [{ shape: [12], gen: awayFrom([], 0, 0.05, 0.6) }],
      build: (_, [x]) => G.clampWithGrad(G.mul(x!, 1.5), 0, 1),
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => 1.5 * v),
    });
  });
});
