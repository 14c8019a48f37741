import { describe, expect, it } from 'vitest';
import { Graph, Session, conv2d, grad, serialize, sumAll, transpose, mul } from '../../../src/engine/graph/index.ts';

describe('constant folding in the builder', () => {
  it('transposes a constant in TypeScript (no Transpose node) with the same values ORT computes', async () => {
    const g = new Graph();
    const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
    const c = g.constant(data, [2, 3, 4], 'w');
    const x = g.input('x', [2, 3, 4]);
    const folded = transpose(c, [2, 0, 1]);
    const runtime = transpose(x, [2, 0, 1]);
    expect(g.isConstant(folded)).toBe(true);
    expect(transpose(c, [2, 0, 1])).toBe(folded); // cached: one copy per permutation
    g.output(folded, 'folded');
    g.output(runtime, 'runtime');
    const s = await Session.create(serialize(g));
    const out = await s.run({ x: data });
    expect([...(out.folded as Float32Array)]).toEqual([...(out.runtime as Float32Array)]);
    expect(serialize(g).nodeCount).toBe(3); // the runtime Transpose + two output Identities
  });

  it('a stride-1 conv gradient uses a flipped-kernel Conv (no ConvTranspose) and matches the weight-as-input path', async () => {
    const g = new Graph();
    const wData = Float32Array.from({ length: 4 * 2 * 3 * 3 }, (_, i) => Math.sin(i));
    const x = g.input('x', [1, 4, 5, 6]);
    const wConst = g.constant(wData, [4, 2, 3, 3], 'w');
    const wIn = g.input('w', [4, 2, 3, 3]);
    const r = g.constant(Float32Array.from({ length: 4 * 5 * 6 }, (_, i) => Math.cos(i)), [1, 4, 5, 6], 'r');
    const opts = { pads: [1, 0, 1, 2] as [number, number, number, number], group: 2 };
    const [ga] = grad(sumAll(mul(conv2d(x, wConst, undefined, opts), r)), [x]);
    const [gb] = grad(sumAll(mul(conv2d(x, wIn, undefined, opts), r)), [x]);
    g.output(ga!, 'ga');
    g.output(gb!, 'gb');
    const model = serialize(g);
    expect(g.nodes.some((n) => n.op === 'ConvTranspose')).toBe(false);
    const s = await Session.create(model);
    const out = await s.run({ x: Float32Array.from({ length: 120 }, (_, i) => (i % 7) - 3), w: wData });
    const a = out.ga as Float32Array;
    const b = out.gb as Float32Array;
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 4);
  });
});

describe('graph names', () => {
  it('refuses an output named like an input (ORT would fail later with a duplicate definition)', () => {
    const g = new Graph();
    const x = g.input('image', [2]);
    expect(() => g.output(mul(x, 2), 'image')).toThrow(/name of a graph input/);
  });
});
