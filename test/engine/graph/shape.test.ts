/**
 * Shape, indexing and scatter ops and CumSum: forward vs JS reference (exact up to 1e-4), gradients vs
 * central finite differences (h = 1e-2, rtol = 1e-2; these ops are linear, so the check is tight).
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { evaluate, gradcheck, int64 } from './gradcheck.ts';
import * as ref from './ref.ts';

describe('Pad', () => {
  it('constant, all sides of a [2,3,4] with value 0.5', async () => {
    const pads = [0, 1, 2, 1, 0, 1];
    await gradcheck({
      inputs: [{ shape: [2, 3, 4] }],
      build: (_, [x]) => G.pad(x!, pads, 'constant', 0.5),
      reference: ([x]) => ref.pad(x!, [2, 3, 4], pads, 'constant', 0.5),
    });
  });
  it('reflect on 2 axes (H: 2 before, 1 after; W: 1 before, 3 after)', async () => {
    const pads = [0, 0, 2, 1, 0, 0, 1, 3];
    await gradcheck({
      inputs: [{ shape: [1, 2, 4, 5] }],
      build: (_, [x]) => G.pad(x!, pads, 'reflect'),
      reference: ([x]) => ref.pad(x!, [1, 2, 4, 5], pads, 'reflect'),
      full: true,
    });
  });
  it('reflect by the maximum (dimension − 1) on one axis', async () => {
    const pads = [0, 3, 0, 3];
    await gradcheck({
      inputs: [{ shape: [2, 4] }],
      build: (_, [x]) => G.pad(x!, pads, 'reflect'),
      reference: ([x]) => ref.pad(x!, [2, 4], pads, 'reflect'),
    });
  });
  it('reflect padding too large is a build-time error', () => {
    const g = new G.Graph();
    expect(() => G.pad(g.input('x', [2, 4]), [0, 4, 0, 0], 'reflect')).toThrow(/Pad: reflect padding 4\/0 needs to be smaller than dimension 1 \(4\)/);
  });
});

describe('Reshape / Transpose / squeeze / unsqueeze / flatten / Expand', () => {
  it('reshape with -1, then transpose', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 3, 4] }],
      build: (_, [x]) => G.transpose(G.reshape(x!, [4, -1, 2]), [2, 0, 1]),
      reference: ([x]) => ref.transpose(x!, [4, 3, 2], [2, 0, 1]),
    });
  });
  it('transpose rank 4 [0,2,3,1]', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 3, 2, 4] }],
      build: (_, [x]) => G.transpose(x!, [0, 2, 3, 1]),
      reference: ([x]) => ref.transpose(x!, [2, 3, 2, 4], [0, 2, 3, 1]),
      full: false,
    });
  });
  it('depthToSpace (DCR): out[n, c, h·2 + i, w·2 + j] = x[n, (i·2 + j)·C + c, h, w]', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 12, 2, 3] }],
      build: (_, [x]) => G.depthToSpace(x!, 2),
      reference: ([x]) => ref.transpose(x!, [2, 2, 2, 3, 2, 3], [0, 3, 4, 1, 5, 2]),
    });
  });
  it('spaceToDepth by 3, the inverse order', async () => {
    await gradcheck({
      inputs: [{ shape: [1, 2, 6, 3] }],
      build: (_, [x]) => G.spaceToDepth(x!, 3),
      reference: ([x]) => ref.transpose(x!, [1, 2, 2, 3, 1, 3], [0, 3, 5, 1, 2, 4]),
    });
  });
  it('squeeze / unsqueeze (negative axes) / flatten', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 1, 3, 1] }],
      build: (_, [x]) => G.flatten(G.unsqueeze(G.squeeze(x!, [1, -1]), [0, -1]), 2),
      reference: ([x]) => Float64Array.from(x as Float32Array),
    });
    const g = new G.Graph();
    const x = g.input('x', [2, 1, 3, 1]);
    expect(G.unsqueeze(G.squeeze(x, [1, -1]), [0, -1]).shape).toEqual([1, 2, 3, 1]);
    expect(() => G.squeeze(x, [0])).toThrow(/Squeeze: dimension 0 of float32\[2,1,3,1\] is not 1/);
  });
  it('expand [3,1] → [2,3,4] (gradient summed over the copies)', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 1] }],
      build: (_, [x]) => G.expand(x!, [2, 3, 4]),
      reference: ([x]) => ref.tabulate([2, 3, 4], ([, j]) => x![j!]!),
    });
  });
  it('expand [4] → [2,3,4] and [2,1,4] → [2,3,4]', async () => {
    await gradcheck({
      inputs: [{ shape: [4] }, { shape: [2, 1, 4] }],
      build: (_, [a, b]) => G.add(G.expand(a!, [2, 3, 4]), G.expand(b!, [2, 3, 4])),
      reference: ([a, b]) => ref.tabulate([2, 3, 4], ([i, , k]) => a![k!]! + b![i! * 4 + k!]!),
    });
  });
});

describe('Concat / Slice / Split', () => {
  it('concat of three inputs on axis 1, one of them a constant', async () => {
    const c = Float32Array.from({ length: 2 * 2 * 2 }, (_, i) => i / 7);
    await gradcheck({
      inputs: [{ shape: [2, 1, 2] }, { shape: [2, 3, 2] }],
      build: (g, [a, b]) => G.concat([a!, g.constant(c, [2, 2, 2]), b!], -2),
      reference: ([a, b]) => ref.tabulate([2, 6, 2], ([i, j, k]) => (j! < 1 ? a![i! * 2 + k!]! : j! < 3 ? c[(i! * 2 + j! - 1) * 2 + k!]! : b![(i! * 3 + j! - 3) * 2 + k!]!)),
    });
  });
  it('slice with negative indices on two axes', async () => {
    // x[:, -3:-1, 1:-1]
    await gradcheck({
      inputs: [{ shape: [2, 4, 5] }],
      build: (_, [x]) => G.slice(x!, [-3, 1], [-1, -1], [1, 2]),
      reference: ([x]) => ref.tabulate([2, 2, 3], ([i, j, k]) => x![(i! * 4 + j! + 1) * 5 + k! + 1]!),
    });
  });
  it('slice with an end past the dimension is clamped', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 4] }],
      build: (_, [x]) => G.slice(x!, [2], [100], [-1]),
      reference: ([x]) => ref.tabulate([3, 2], ([i, j]) => x![i! * 4 + j! + 2]!),
    });
  });
  it('slice with step 2 and a reversed slice (forward)', async () => {
    const x = Float32Array.from({ length: 6 }, (_, i) => i);
    const { y } = await evaluate(
      [{ shape: [6], diff: false }],
      (_, [t]) => G.concat([G.slice(t!, [1], [6], [0], [2]), G.slice(t!, [-1], [-100], [0], [-1])], 0),
      [x],
    );
    expect(Array.from(y)).toEqual([1, 3, 5, 5, 4, 3, 2, 1, 0]);
  });
  it('strided and reversed slices: x[::-1, 1::2, ::-2] (gradient scattered back)', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 5, 4] }],
      build: (_, [x]) => G.slice(x!, [-1, 1, 3], [-100, 100, -100], [0, 1, 2], [-1, 2, -2]),
      reference: ([x]) => ref.tabulate([3, 2, 2], ([i, j, k]) => x![((2 - i!) * 5 + 1 + 2 * j!) * 4 + 3 - 2 * k!]!),
      full: false,
    });
  });
  it('a strided slice on one axis and a unit-step slice on another', async () => {
    await gradcheck({
      inputs: [{ shape: [4, 6] }],
      build: (_, [x]) => G.slice(x!, [1, 0], [3, 6], [0, 1], [1, 3]),
      reference: ([x]) => ref.tabulate([2, 2], ([i, j]) => x![(1 + i!) * 6 + 3 * j!]!),
    });
  });
  it('split into three with the middle output unused (its gradient is zero)', async () => {
    const r = await gradcheck({
      inputs: [{ shape: [2, 7] }],
      build: (_, [x]) => {
        const [a, , c] = G.split(x!, 1, [2, 3, 2]);
        return G.concat([a!, G.mul(c!, 3)], 1);
      },
      reference: ([x]) => ref.tabulate([2, 4], ([i, j]) => (j! < 2 ? x![i! * 7 + j!]! : 3 * x![i! * 7 + j! + 3]!)),
    });
    for (let i = 0; i < 2; i++) for (let j = 2; j < 5; j++) expect(r.grads[0]![i * 7 + j]).toBe(0);
  });
  it('split on axis 0, all outputs used in different ways', async () => {
    await gradcheck({
      inputs: [{ shape: [5, 3] }],
      build: (_, [x]) => {
        const [a, b] = G.split(x!, 0, [2, 3]);
        return G.matmul(G.transpose(a!, [1, 0]), G.slice(G.exp(b!), [0], [2], [0]));
      },
      reference: ([x]) => {
        const a = ref.transpose(Array.from(x!).slice(0, 6), [2, 3], [1, 0]);
        const b = Array.from(x!).slice(6, 12).map(Math.exp);
        return ref.matmul(a, [3, 2], b, [2, 3]);
      },
    });
  });
});

describe('Gather / GatherElements', () => {
  it('gatherTaps: fed keys at shifted offsets, repeated (the warp taps; the gradient sorts in the graph)', async () => {
    // rows of x [7, 2, 3] at keys + [0, 2, -1]: out [3, 2, 4, 2, 3]; keys repeat within and across taps
    const keys = [3, 1, 3, 4, 1, 1, 3, 2];
    const offsets = [0, 2, -1];
    await gradcheck({
      inputs: [{ shape: [7, 2, 3] }, { shape: [2, 4], dtype: 'int64', value: int64(keys) }],
      build: (_, [x, k]) => G.gatherTaps(x!, k!, offsets),
      reference: ([x]) => ref.tabulate([3, 2, 4, 2, 3], ([o, a, b, i, j]) => x![(keys[a! * 4 + b!]! + offsets[o!]!) * 6 + i! * 3 + j!]!),
    });
  });
  it('gatherTaps in 2 groups: each half of the keys and their taps in its own half of the rows, each sorted apart', async () => {
    const keys = [2, 0, 2, 4, 6, 4];
    const offsets = [0, 1];
    await gradcheck({
      inputs: [{ shape: [8, 2] }, { shape: [6], dtype: 'int64', value: int64(keys) }],
      build: (_, [x, k]) => G.gatherTaps(x!, k!, offsets, 2),
      reference: ([x]) => ref.tabulate([2, 6, 2], ([o, a, j]) => x![(keys[a!]! + offsets[o!]!) * 2 + j!]!),
    });
  });
  it('gatherTaps in 3 shared groups: every run of keys addresses all rows, each sorted apart, their sums added', async () => {
    const keys = [0, 3, 3, 1, 0, 3, 2, 3, 0];
    const offsets = [1, 0];
    await gradcheck({
      inputs: [{ shape: [5, 2] }, { shape: [9], dtype: 'int64', value: int64(keys) }],
      build: (_, [x, k]) => G.gatherTaps(x!, k!, offsets, 3, true),
      reference: ([x]) => ref.tabulate([2, 9, 2], ([o, a, j]) => x![(keys[a!]! + offsets[o!]!) * 2 + j!]!),
    });
  });
  it('a gather on fed indices refuses to differentiate unless they are unique or taps (no silent scatter race)', () => {
    const g = new G.Graph();
    const x = g.input('x', [5, 3]);
    const y = G.gather(x, g.input('i', [4], 'int64'), 0);
    expect(() => G.grad(G.sumAll(y), [x])).toThrow(/needs constant indices/);
  });
  it('gather axis 1 with repeated indices, constant index tensor', async () => {
    const idx = [4, 1, 1, 0, 4, 4];
    await gradcheck({
      inputs: [{ shape: [2, 5, 3] }],
      build: (g, [x]) => G.gather(x!, g.constant(int64(idx), [6]), 1),
      reference: ([x]) => ref.tabulate([2, 6, 3], ([a, b, c]) => x![(a! * 5 + idx[b!]!) * 3 + c!]!),
      full: false,
    });
  });
  it('gather with a scalar index on the last axis', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 4] }],
      build: (g, [x]) => G.gather(x!, g.constant(int64([2]), []), -1),
      reference: ([x]) => ref.tabulate([3], ([a]) => x![a! * 4 + 2]!),
    });
  });
  it('gather axis 1 of a rank-3 tensor with a 2-D index (pre and post axes both present)', async () => {
    const idx = [4, 0, 4, 2, 2, 1];
    await gradcheck({
      inputs: [{ shape: [2, 5, 3] }],
      build: (g, [x]) => G.gather(x!, g.constant(int64(idx), [2, 3]), 1),
      reference: ([x]) => ref.tabulate([2, 2, 3, 3], ([a, i, j, c]) => x![(a! * 5 + idx[i! * 3 + j!]!) * 3 + c!]!),
      full: false,
    });
  });
  it('gather with negative indices (counted from the end)', async () => {
    const idx = [-1, 0, -1, -4];
    await gradcheck({
      inputs: [{ shape: [4, 2] }],
      build: (g, [x]) => G.gather(x!, g.constant(int64(idx), [4]), 0),
      reference: ([x]) => ref.tabulate([4, 2], ([i, c]) => x![((idx[i!]! + 4) % 4) * 2 + c!]!),
    });
  });
  it('gatherElements on axis 1 with repeats (torch.gather)', async () => {
    const idx = [0, 2, 2, 1, 1, 1, 2, 0];
    await gradcheck({
      inputs: [{ shape: [2, 3] }, { shape: [2, 4], dtype: 'int64', value: int64(idx) }],
      build: (_, [x, i]) => G.gatherElements(x!, i!, 1),
      reference: ([x]) => ref.tabulate([2, 4], ([a, b]) => x![a! * 3 + idx[a! * 4 + b!]!]!),
    });
  });
  it('gatherElements with negative indices', async () => {
    const idx = [-1, 0, -3, -1];
    await gradcheck({
      inputs: [{ shape: [2, 3] }],
      build: (g, [x]) => G.gatherElements(x!, g.constant(int64(idx), [2, 2]), 1),
      reference: ([x]) => ref.tabulate([2, 2], ([a, b]) => x![a! * 3 + ((idx[a! * 2 + b!]! + 3) % 3)]!),
    });
  });
  it('gatherElements on axis 0', async () => {
    const idx = [2, 0, 1, 2, 2, 2];
    await gradcheck({
      inputs: [{ shape: [3, 3] }, { shape: [2, 3], dtype: 'int64', value: int64(idx) }],
      build: (_, [x, i]) => G.gatherElements(x!, i!, 0),
      reference: ([x]) => ref.tabulate([2, 3], ([a, b]) => x![idx[a! * 3 + b!]! * 3 + b!]!),
    });
  });
});

describe('ScatterND / ScatterElements (reduction add)', () => {
  it('scatterNDAdd of rows with a repeated index: the gradient of data is gy', async () => {
    const idx = [1, 3, 1];
    await gradcheck({
      inputs: [{ shape: [4, 3] }, { shape: [3, 3], diff: false }],
      build: (g, [x, u]) => G.scatterNDAdd(x!, g.constant(int64(idx), [3, 1]), u!),
      reference: ([x, u]) => {
        const y = Float64Array.from(x!);
        idx.forEach((r, k) => [0, 1, 2].forEach((c) => (y[r * 3 + c]! += u![k * 3 + c]!)));
        return y;
      },
    });
  });
  it('scatterElementsAdd on axis 1 with repeats: gradients for data and updates', async () => {
    const idx = [3, 0, 3, 1, 1, 1];
    await gradcheck({
      inputs: [{ shape: [2, 4] }, { shape: [2, 3] }],
      build: (g, [x, u]) => G.scatterElementsAdd(x!, g.constant(int64(idx), [2, 3]), u!, 1),
      reference: ([x, u]) => {
        const y = Float64Array.from(x!);
        idx.forEach((j, k) => (y[Math.floor(k / 3) * 4 + j]! += u![k]!));
        return y;
      },
    });
  });
});

describe('CumSum', () => {
  for (const reverse of [false, true]) {
    it(`inclusive prefix sum along axis 1 of [2,5]${reverse ? ', reversed' : ''}`, async () => {
      await gradcheck({
        inputs: [{ shape: [2, 5] }],
        build: (_, [x]) => G.cumsum(x!, -1, reverse),
        reference: ([x]) =>
          ref.tabulate([2, 5], ([i, j]) => {
            let s = 0;
            for (let k = 0; k < 5; k++) if (reverse ? k >= j! : k <= j!) s += x![i! * 5 + k]!;
            return s;
          }),
      });
    });
  }
});
