/** The phase-split upsample+conv equals conv(upsampleNearest(x, 2)) in value and in its input gradient. */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { countFlops } from '../../../src/engine/graph/flops.ts';
import { compile, mulberry32, normal } from './gradcheck.ts';

describe('upsample2Conv3x3', () => {
  for (const [label, x, m] of [
    ['square, bias', [2, 3, 5, 5], 4],
    ['rectangular', [1, 4, 3, 6], 2],
  ] as const) {
    it(`${label}: forward and dL/dx within 1e-5 of the plain route, with 16/36 of its multiply-adds`, async () => {
      const rng = mulberry32(7);
      const w = normal(rng, m * x[1] * 9);
      const b = normal(rng, m);
      const seed = normal(rng, x[0] * m * x[2] * 2 * x[3] * 2);
      const input = normal(rng, (x as readonly number[]).reduce((p, q) => p * q, 1));
      const build = (phased: boolean) => (g: G.Graph, xs: G.Tensor[]) => {
        const wt = g.constant(w, [m, x[1], 3, 3], 'w');
        const bt = g.constant(b, [m], 'b');
        return phased ? G.upsample2Conv3x3(xs[0]!, wt, bt) : G.conv2d(G.upsampleNearest(xs[0]!, 2), wt, bt, { pads: [1, 1, 1, 1] });
      };
      const plain = await compile([{ shape: x }], build(false), seed);
      const phased = await compile([{ shape: x }], build(true), seed);
      expect(phased.gradientPath.has('Resize')).toBe(false);
      const a = await plain.run([input]);
      const p = await phased.run([input]);
      for (const [u, v] of [
        [a.y, p.y],
        [a.grads[0]!, p.grads[0]!],
      ] as const) {
        expect(v.length).toBe(u.length);
        for (let i = 0; i < u.length; i++) expect(Math.abs(v[i]! - u[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(u[i]!)));
      }
      expect(countFlops(phased.graph)).toBeLessThan(countFlops(plain.graph) * 0.5);
    });
  }
});
