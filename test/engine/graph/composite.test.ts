/**
 * Composite checks: a CLIP pre-norm residual attention block (with its QuickGELU MLP) and a VQGAN
 * ResnetBlock (GroupNorm(32) → swish → conv3×3 → GroupNorm → swish → conv3×3 + 1×1 nin_shortcut).
 * Forward vs a float64 JS reference (abs 2e-4 + rel 2e-4), gradient w.r.t. the block input vs
 * central finite differences along 8 random directions (h = 1e-2, rtol = 1e-2; see gradcheck.ts).
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import type { Graph, Tensor } from '../../../src/engine/graph/index.ts';
import { U, gradcheck, mulberry32, normal, type GradcheckReport } from './gradcheck.ts';
import * as ref from './ref.ts';

/** gradcheck throws with details on failure; the report's worst scaled error must also be ≤ 1 */
const expectPasses = (r: GradcheckReport): void => expect(r.worst).toBeLessThanOrEqual(1);

const sig = (v: number) => 1 / (1 + Math.exp(-v));

describe('CLIP residual attention block (pre-norm)', () => {
  const [N, L, D, H] = [2, 5, 16, 4];
  const Dh = D / H;
  const rng = mulberry32(31);
  const p = {
    ln1w: normal(rng, D, 0.2).map((v) => v + 1),
    ln1b: normal(rng, D, 0.1),
    inW: normal(rng, 3 * D * D, 1 / Math.sqrt(D)),
    inB: normal(rng, 3 * D, 0.1),
    outW: normal(rng, D * D, 1 / Math.sqrt(D)),
    outB: normal(rng, D, 0.1),
    ln2w: normal(rng, D, 0.2).map((v) => v + 1),
    ln2b: normal(rng, D, 0.1),
    fcW: normal(rng, 4 * D * D, 1 / Math.sqrt(D)),
    fcB: normal(rng, 4 * D, 0.1),
    projW: normal(rng, 4 * D * D, 1 / Math.sqrt(4 * D)),
    projB: normal(rng, D, 0.1),
  };

  function block(g: Graph, x: Tensor): Tensor {
    const c = (a: Float32Array, s: number[]) => g.constant(a, s);
    // attention
    const h = G.layerNorm(x, c(p.ln1w, [D]), c(p.ln1b, [D]));
    const qkv = G.linear(h, c(p.inW, [3 * D, D]), c(p.inB, [3 * D])); // [N, L, 3D]
    const heads = (t: Tensor) => G.transpose(G.reshape(t, [N, L, H, Dh]), [0, 2, 1, 3]); // [N, H, L, Dh]
    const [q, k, v] = G.split(qkv, -1, [D, D, D]).map(heads) as [Tensor, Tensor, Tensor];
    const scores = G.mul(G.matmul(q, G.mT(k)), 1 / Math.sqrt(Dh)); // [N, H, L, L]
    const o = G.matmul(G.softmax(scores, -1), v); // [N, H, L, Dh]
    const merged = G.reshape(G.transpose(o, [0, 2, 1, 3]), [N, L, D]);
    const x1 = G.add(x, G.linear(merged, c(p.outW, [D, D]), c(p.outB, [D])));
    // MLP
    const m = G.quickGelu(G.linear(G.layerNorm(x1, c(p.ln2w, [D]), c(p.ln2b, [D])), c(p.fcW, [4 * D, D]), c(p.fcB, [4 * D])));
    return G.add(x1, G.linear(m, c(p.projW, [D, 4 * D]), c(p.projB, [D])));
  }

  function reference(x: ArrayLike<number>): Float64Array {
    const lin = (a: ArrayLike<number>, rows: number, din: number, w: Float32Array, b: Float32Array, dout: number) =>
      ref.matmul(a, [rows, din], ref.transpose(w, [dout, din], [1, 0]), [din, dout]).map((v, i) => v + b[i % dout]!);
    const rows = N * L;
    const h = ref.standardizeRows(x, D, 1e-5, (_, j, v) => v * p.ln1w[j]! + p.ln1b[j]!);
    const qkv = lin(h, rows, D, p.inW, p.inB, 3 * D);
    const merged = new Float64Array(rows * D);
    for (let n = 0; n < N; n++) {
      for (let hd = 0; hd < H; hd++) {
        const at = (part: number, l: number, j: number) => qkv[(n * L + l) * 3 * D + part * D + hd * Dh + j]!;
        const s = new Float64Array(L * L);
        for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) for (let t = 0; t < Dh; t++) s[i * L + j]! += (at(0, i, t) * at(1, j, t)) / Math.sqrt(Dh);
        const pr = ref.softmaxRows(s, L);
        for (let i = 0; i < L; i++) for (let t = 0; t < Dh; t++) for (let j = 0; j < L; j++) merged[(n * L + i) * D + hd * Dh + t]! += pr[i * L + j]! * at(2, j, t);
      }
    }
    const attn = lin(merged, rows, D, p.outW, p.outB, D);
    const x1 = Float64Array.from(x, (v, i) => v + attn[i]!);
    const fc = lin(ref.standardizeRows(x1, D, 1e-5, (_, j, v) => v * p.ln2w[j]! + p.ln2b[j]!), rows, D, p.fcW, p.fcB, 4 * D).map((v) => v * sig(1.702 * v));
    const pj = lin(fc, rows, 4 * D, p.projW, p.projB, D);
    return x1.map((v, i) => v + pj[i]!);
  }

  it(`[${N},${L},${D}], ${H} heads: forward and input gradient`, async () => {
    expectPasses(await gradcheck({
      inputs: [{ shape: [N, L, D], gen: U(-2, 2) }],
      build: (g, [x]) => block(g, x!),
      reference: ([x]) => reference(x!),
      fwdAtol: 2e-4,
      fwdRtol: 2e-4,
      directions: 8,
    }));
  });
});

describe('VQGAN ResnetBlock', () => {
  function makeBlock(cin: number, cout: number, seed: number) {
    const rng = mulberry32(seed);
    const p = {
      n1w: normal(rng, cin, 0.2).map((v) => v + 1),
      n1b: normal(rng, cin, 0.1),
      c1w: normal(rng, cout * cin * 9, 1 / Math.sqrt(cin * 9)),
      c1b: normal(rng, cout, 0.1),
      n2w: normal(rng, cout, 0.2).map((v) => v + 1),
      n2b: normal(rng, cout, 0.1),
      c2w: normal(rng, cout * cout * 9, 1 / Math.sqrt(cout * 9)),
      c2b: normal(rng, cout, 0.1),
      ninW: normal(rng, cout * cin, 1 / Math.sqrt(cin)),
      ninB: normal(rng, cout, 0.1),
    };
    const pad1 = { pads: [1, 1, 1, 1] as const };
    const build = (g: Graph, x: Tensor): Tensor => {
      const c = (a: Float32Array, s: number[]) => g.constant(a, s);
      let h = G.swish(G.groupNorm(x, 32, c(p.n1w, [cin]), c(p.n1b, [cin])));
      h = G.conv2d(h, c(p.c1w, [cout, cin, 3, 3]), c(p.c1b, [cout]), pad1);
      h = G.swish(G.groupNorm(h, 32, c(p.n2w, [cout]), c(p.n2b, [cout])));
      h = G.conv2d(h, c(p.c2w, [cout, cout, 3, 3]), c(p.c2b, [cout]), pad1);
      const skip = cin === cout ? x : G.conv2d(x, c(p.ninW, [cout, cin, 1, 1]), c(p.ninB, [cout]));
      return G.add(skip, h);
    };
    const reference = (x: ArrayLike<number>, shape: [number, number, number, number]): Float64Array => {
      const [n, , hh, ww] = shape;
      const gn = (t: ArrayLike<number>, ch: number, w: Float32Array, b: Float32Array) => {
        const per = (ch / 32) * hh * ww;
        return ref.standardizeRows(t, per, 1e-6, (row, j, v) => {
          const k = (row % 32) * (ch / 32) + Math.floor(j / (hh * ww));
          const y = v * w[k]! + b[k]!;
          return y * sig(y);
        });
      };
      let h = gn(x, cin, p.n1w, p.n1b);
      h = ref.conv2d(h, [n, cin, hh, ww], p.c1w, [cout, cin, 3, 3], p.c1b, { pads: [1, 1, 1, 1] }).y;
      h = gn(h, cout, p.n2w, p.n2b);
      h = ref.conv2d(h, [n, cout, hh, ww], p.c2w, [cout, cout, 3, 3], p.c2b, { pads: [1, 1, 1, 1] }).y;
      const skip = cin === cout ? x : ref.conv2d(x, shape, p.ninW, [cout, cin, 1, 1], p.ninB).y;
      return h.map((v, i) => v + skip[i]!);
    };
    return { build, reference };
  }

  for (const [cin, cout] of [
    [32, 64],
    [64, 64],
  ] as const) {
    it(`${cin} → ${cout} channels${cin !== cout ? ' (1×1 nin_shortcut)' : ''}, [1,${cin},4,4]`, async () => {
      const blk = makeBlock(cin, cout, 40 + cout + cin);
      const shape: [number, number, number, number] = [1, cin, 4, 4];
      expectPasses(await gradcheck({
        inputs: [{ shape, gen: U(-2, 2) }],
        build: (g, [x]) => blk.build(g, x!),
        reference: ([x]) => blk.reference(x!, shape),
        fwdAtol: 2e-4,
        fwdRtol: 2e-4,
        directions: 8,
      }));
    });
  }
});
