/**
 * Reductions, Softmax, LayerNormalization, GroupNorm, ArgMin: forward vs JS reference (1e-4 abs +
 * 1e-4 rel), gradients vs central finite differences (h = 1e-2, rtol = 1e-2; ReduceMax inputs are
 * spaced 0.05 apart so the maximum cannot move under a perturbation).
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { U, evaluate, gradcheck, mulberry32, normal, spaced } from './gradcheck.ts';
import * as ref from './ref.ts';

describe('ReduceSum / ReduceMean / ReduceMax', () => {
  const kinds = [
    ['ReduceSum', G.reduceSum, 'sum'],
    ['ReduceMean', G.reduceMean, 'mean'],
    ['ReduceMax', G.reduceMax, 'max'],
  ] as const;
  const axesCases: number[][] = [[1], [0, 2], [-1, 1], [0, 1, 2]];
  for (const [name, op, kind] of kinds) {
    for (const axes of axesCases) {
      for (const keepdims of [true, false]) {
        it(`${name} axes [${axes}] keepdims ${keepdims}`, async () => {
          const xs = [2, 3, 4];
          const r = await gradcheck({
            inputs: [{ shape: xs, gen: kind === 'max' ? spaced(0.05) : U() }],
            build: (_, [x]) => op(x!, axes, keepdims),
            reference: ([x]) => ref.reduce(x!, xs, axes, kind, keepdims),
          });
          const ax = axes.map((a) => (a < 0 ? a + 3 : a));
          const want = keepdims ? xs.map((d, i) => (ax.includes(i) ? 1 : d)) : xs.filter((_, i) => !ax.includes(i));
          expect(r.y.length).toBe(want.reduce((a, b) => a * b, 1));
        });
      }
    }
  }
  it('ReduceMax ties share the gradient equally', async () => {
    const x = Float32Array.from([1, 3, 3, 2, 5, 5, 5, 0]);
    const { grads } = await evaluate([{ shape: [2, 4] }], (_, [t]) => G.reduceMax(t!, [1], false), [x]);
    expect(Array.from(grads[0]!)).toEqual([0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3, 0].map(Math.fround));
  });
  it('sumAll / meanAll to a scalar', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 4] }],
      build: (_, [x]) => G.add(G.sumAll(x!), G.mul(G.meanAll(G.mul(x!, x!)), 3)),
      reference: ([x]) => [Array.from(x!).reduce((s, v) => s + v + (3 * v * v) / 12, 0)],
    });
  });
});

describe('Softmax', () => {
  for (const axis of [-1, 1, 0]) {
    it(`axis ${axis} of [2,3,4]`, async () => {
      const xs = [2, 3, 4];
      const a = axis < 0 ? axis + 3 : axis;
      await gradcheck({
        inputs: [{ shape: xs, gen: U(-3, 3) }],
        build: (_, [x]) => G.softmax(x!, axis),
        reference: ([x]) => {
          // move the axis last, softmax rows, move it back
          const perm = [0, 1, 2].filter((i) => i !== a).concat(a);
          const t = ref.transpose(x!, xs, perm);
          const s = ref.softmaxRows(t, xs[a]!);
          return ref.transpose(s, perm.map((p) => xs[p]!), perm.map((_, i) => perm.indexOf(i)));
        },
      });
    });
  }
});

describe('LayerNormalization', () => {
  it('over the last axis of [2,3,8] with weight and bias', async () => {
    const rng = mulberry32(21);
    const w = normal(rng, 8);
    const b = normal(rng, 8);
    await gradcheck({
      inputs: [{ shape: [2, 3, 8], gen: U(-2, 2) }],
      build: (g, [x]) => G.layerNorm(x!, g.constant(w, [8]), g.constant(b, [8])),
      reference: ([x]) => ref.standardizeRows(x!, 8, 1e-5, (_, j, v) => v * w[j]! + b[j]!),
      directions: 8,
    });
  });
  it('rank 2 with a non-zero mean and eps 1e-6', async () => {
    const w = Float32Array.from({ length: 5 }, (_, i) => 0.5 + i / 4);
    const b = new Float32Array(5).fill(0.1);
    await gradcheck({
      inputs: [{ shape: [4, 5], gen: U(1, 3) }],
      build: (g, [x]) => G.layerNorm(x!, g.constant(w, [5]), g.constant(b, [5]), 1e-6),
      reference: ([x]) => ref.standardizeRows(x!, 5, 1e-6, (_, j, v) => v * w[j]! + b[j]!),
    });
  });
  it('weight of the wrong size is a build-time error', () => {
    const g = new G.Graph();
    const x = g.input('x', [2, 8]);
    expect(() => G.layerNorm(x, g.constant(new Float32Array(4), [4]), g.constant(new Float32Array(8), [8]))).toThrow(/LayerNormalization: weight float32\[4\]/);
  });
});

describe('GroupNorm', () => {
  for (const [label, xs, groups] of [
    ['4 groups of 2 channels, [2,8,3,3]', [2, 8, 3, 3], 4],
    ['one group (LayerNorm over C,H,W), [1,3,2,4]', [1, 3, 2, 4], 1],
    ['groups = channels (InstanceNorm), [1,4,3,2]', [1, 4, 3, 2], 4],
  ] as const) {
    it(label, async () => {
      const c = xs[1];
      const rng = mulberry32(22);
      const w = normal(rng, c);
      const b = normal(rng, c);
      const per = (c / groups) * xs[2] * xs[3];
      await gradcheck({
        inputs: [{ shape: xs, gen: U(-2, 2) }],
        build: (g, [x]) => G.groupNorm(x!, groups, g.constant(w, [c]), g.constant(b, [c])),
        reference: ([x]) =>
          ref.standardizeRows(x!, per, 1e-6, (row, j, v) => {
            const ch = (row % groups) * (c / groups) + Math.floor(j / (xs[2] * xs[3]));
            return v * w[ch]! + b[ch]!;
          }),
        directions: 8,
      });
    });
  }
  it('swish(GroupNorm) as one op (AffineSiLU keeps only the normalised tensor for the gradient), [2,8,3,3]', async () => {
    const xs = [2, 8, 3, 3] as const;
    const [c, groups] = [8, 4];
    const rng = mulberry32(23);
    const w = normal(rng, c);
    const b = normal(rng, c);
    const per = (c / groups) * xs[2] * xs[3];
    await gradcheck({
      inputs: [{ shape: xs, gen: U(-2, 2) }],
      build: (g, [x]) => G.groupNormSwish(x!, groups, g.constant(w, [c]), g.constant(b, [c])),
      reference: ([x]) =>
        ref.standardizeRows(x!, per, 1e-6, (row, j, v) => {
          const ch = (row % groups) * (c / groups) + Math.floor(j / (xs[2] * xs[3]));
          const a = v * w[ch]! + b[ch]!;
          return a / (1 + Math.exp(-a));
        }),
      directions: 8,
    });
  });
  it('channels not divisible by groups is a build-time error', () => {
    const g = new G.Graph();
    const x = g.input('x', [1, 6, 2, 2]);
    const p = g.constant(new Float32Array(6), [6]);
    expect(() => G.groupNorm(x, 4, p, p)).toThrow(/GroupNorm: 6 channels do not split into 4 groups/);
  });
});

describe('ArgMin (no gradient)', () => {
  it('forward on axis 1, keepdims both; first index wins a tie', async () => {
    const x = Float32Array.from([3, 1, 2, 1, 0, 5, -1, 7, 2, 2, 2, 2]);
    for (const keepdims of [false, true]) {
      const { y } = await evaluate([{ shape: [3, 4], diff: false }], (_, [t]) => G.cast(G.argMin(t!, 1, keepdims), 'float32'), [x]);
      expect(Array.from(y)).toEqual([1, 2, 0]);
    }
    const g = new G.Graph();
    expect(G.argMin(g.input('x', [3, 4]), -1, true).shape).toEqual([3, 1]);
    expect(G.argMin(g.input('y', [3, 4]), 0).dtype).toBe('int64');
  });
  it('ArgMax / ArgMin on the gradient path: gatherElements of the row max and min', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 5], gen: spaced(0.05) }],
      build: (_, [x]) => G.sub(G.gatherElements(x!, G.argMax(x!, 1, true), 1), G.gatherElements(x!, G.argMin(x!, 1, true), 1)),
      reference: ([x]) => ref.tabulate([3, 1], ([i]) => Math.max(...x!.subarray(i! * 5, i! * 5 + 5)) - Math.min(...x!.subarray(i! * 5, i! * 5 + 5))),
    });
  });
  it('vector quantisation: argmin → gather codebook, straight-through to z', async () => {
    // z [5,3] rows, codebook [4,3]; z_q = replaceGrad(codebook[argmin ‖z − e‖²], z)
    const rng = mulberry32(23);
    const cb = normal(rng, 12);
    const build = (g: G.Graph, [z]: G.Tensor[]) => {
      const e = g.constant(cb, [4, 3]);
      const d = G.reduceSum(G.square(G.sub(G.unsqueeze(z!, [1]), G.unsqueeze(e, [0]))), [2], false); // [5,4]
      const zq = G.gather(e, G.argMin(d, 1), 0);
      return G.mul(G.replaceGrad(zq, z!), 2);
    };
    const z = normal(rng, 15);
    const seed = normal(rng, 15);
    const { y, grads } = await evaluate([{ shape: [5, 3] }], build, [z], seed);
    const want: number[] = [];
    for (let i = 0; i < 5; i++) {
      let best = 0;
      let bd = Infinity;
      for (let k = 0; k < 4; k++) {
        let s = 0;
        for (let j = 0; j < 3; j++) s += (z[i * 3 + j]! - cb[k * 3 + j]!) ** 2;
        if (s < bd) [bd, best] = [s, k];
      }
      for (let j = 0; j < 3; j++) want.push(Math.fround(2 * cb[best * 3 + j]!));
    }
    expect(Array.from(y)).toEqual(want);
    // forward is piecewise constant; the straight-through gradient of sum(2·z_q·S) is exactly 2S
    expect(Array.from(grads[0]!)).toEqual(Array.from(seed, (v) => Math.fround(2 * v)));
  });
});
