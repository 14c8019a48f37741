/**
 * MatMul, Gemm, linear: forward vs JS reference (1e-4 abs + 1e-4 rel), gradients for every float input
 * vs central finite differences (h = 1e-2, rtol = 1e-2; see gradcheck.ts).
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { gradcheck, mulberry32, normal, type GradcheckReport } from './gradcheck.ts';
import * as ref from './ref.ts';

/** gradcheck throws with details on failure; the report's worst scaled error must also be ≤ 1 */
const expectPasses = (r: GradcheckReport): void => expect(r.worst).toBeLessThanOrEqual(1);

describe('MatMul', () => {
  const cases: [string, number[], number[]][] = [
    ['rank 2', [3, 4], [4, 5]],
    ['batched [2,3,4]@[2,4,5]', [2, 3, 4], [2, 4, 5]],
    ['broadcast batch [2,1,3,4]@[5,4,2]', [2, 1, 3, 4], [5, 4, 2]],
    ['rank-2 weight [2,3,4]@[4,5]', [2, 3, 4], [4, 5]],
    ['rank-2 left [3,4]@[2,4,5]', [3, 4], [2, 4, 5]],
  ];
  for (const [label, sa, sb] of cases) {
    it(label, async () => {
      expectPasses(await gradcheck({
        inputs: [{ shape: sa }, { shape: sb }],
        build: (_, [a, b]) => G.matmul(a!, b!),
        reference: ([a, b]) => ref.matmul(a!, sa, b!, sb),
        directions: 4,
      }));
    });
  }
  it('constant rank-2 weight (the usual model case): only x gets a gradient', async () => {
    const w = normal(mulberry32(3), 4 * 6);
    expectPasses(await gradcheck({
      inputs: [{ shape: [2, 3, 4] }],
      build: (g, [x]) => G.matmul(x!, g.constant(w, [4, 6])),
      reference: ([x]) => ref.matmul(x!, [2, 3, 4], w, [4, 6]),
    }));
  });
  it('linear(x, W[out,in], b) as torch.nn.Linear', async () => {
    const rng = mulberry32(5);
    const w = normal(rng, 6 * 4);
    const b = normal(rng, 6);
    expectPasses(await gradcheck({
      inputs: [{ shape: [2, 3, 4] }],
      build: (g, [x]) => G.linear(x!, g.constant(w, [6, 4]), g.constant(b, [6])),
      reference: ([x]) => {
        const y = ref.matmul(x!, [2, 3, 4], ref.transpose(w, [6, 4], [1, 0]), [4, 6]);
        return y.map((v, i) => v + b[i % 6]!);
      },
    }));
  });
});

describe('FusedMatMul (matmulT: operands transposed in place)', () => {
  const cases: [boolean, boolean, number[], number[]][] = [
    [false, true, [2, 3, 4], [2, 5, 4]],
    [true, false, [2, 4, 3], [2, 4, 5]],
    [true, true, [2, 4, 3], [2, 5, 4]],
    [false, true, [2, 1, 3, 4], [3, 5, 4]],
  ];
  for (const [tA, tB, sa, sb] of cases) {
    it(`${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}: [${sa}] and [${sb}]`, async () => {
      const swap = (x: Float64Array | Float32Array, shape: number[]) => {
        const perm = shape.map((_, i) => i);
        [perm[shape.length - 1], perm[shape.length - 2]] = [perm[shape.length - 2]!, perm[shape.length - 1]!];
        return { data: ref.transpose(x, shape, perm), shape: perm.map((p) => shape[p]!) };
      };
      expectPasses(await gradcheck({
        inputs: [{ shape: sa }, { shape: sb }],
        build: (_, [a, b]) => G.matmulT(a!, b!, tA, tB),
        reference: ([a, b]) => {
          const A = tA ? swap(a!, sa) : { data: a!, shape: sa };
          const B = tB ? swap(b!, sb) : { data: b!, shape: sb };
          return ref.matmul(A.data, A.shape, B.data, B.shape);
        },
        directions: 4,
      }));
    });
  }
  it('emitted in the com.microsoft domain, which the model imports', () => {
    const g = new G.Graph();
    g.output(G.matmulT(g.input('a', [3, 4]), g.input('b', [5, 4]), false, true), 'y');
    const node = G.emittedNodes(g).find((n) => n.opType === 'FusedMatMul');
    expect(node).toMatchObject({ domain: 'com.microsoft', opset: 1 });
    expect(Buffer.from(G.serialize(g).bytes).includes(Buffer.from('com.microsoft'))).toBe(true);
  });
});

describe('Gemm', () => {
  const m = 3;
  const k = 4;
  const n = 5;
  const cases: { transA: boolean; transB: boolean; alpha: number; beta: number; c: number[] | null }[] = [
    { transA: false, transB: false, alpha: 1, beta: 1, c: null },
    { transA: true, transB: false, alpha: 0.5, beta: 1, c: [n] },
    { transA: false, transB: true, alpha: 1, beta: 2, c: [m, 1] },
    { transA: true, transB: true, alpha: -1.5, beta: 0.25, c: [m, n] },
    { transA: false, transB: true, alpha: 2, beta: -1, c: [1, n] },
    { transA: true, transB: false, alpha: 1, beta: 3, c: [] },
  ];
  for (const o of cases) {
    it(`transA=${o.transA} transB=${o.transB} alpha=${o.alpha} beta=${o.beta} C=${o.c ? `[${o.c}]` : 'none'}`, async () => {
      const sa = o.transA ? [k, m] : [m, k];
      const sb = o.transB ? [n, k] : [k, n];
      expectPasses(await gradcheck({
        inputs: [{ shape: sa }, { shape: sb }, ...(o.c ? [{ shape: o.c }] : [])],
        build: (_, [a, b, c]) => G.gemm(a!, b!, c, o),
        reference: ([a, b, c]) => {
          const A = o.transA ? ref.transpose(a!, sa, [1, 0]) : a!;
          const B = o.transB ? ref.transpose(b!, sb, [1, 0]) : b!;
          const ab = ref.matmul(A, [m, k], B, [k, n]);
          return ref.binary(ab, [m, n], c ?? [0], o.c ?? [], (p, q) => o.alpha * p + o.beta * q);
        },
      }));
    });
  }
});
