/**
 * asinPoly, the Asin-free asin (ORT's CUDA provider has no Asin kernel): forward vs Math.asin over all of
 * [-1, 1] to float32 rounding, gradient vs 1/√(1 − x²) away from ±1, and no Asin node emitted.
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';

async function run(x: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  const g = new G.Graph();
  const xi = g.input('x', [x.length]);
  const y = G.asinPoly(xi);
  const [dx] = G.grad(G.reduceSum(y, [0], false), [xi]);
  g.output(y, 'y');
  g.output(dx!, 'dx');
  const s = await G.Session.create(G.serialize(g), { threads: 1 });
  try {
    const out = await s.run({ x });
    return { y: out.y as Float32Array, dx: out.dx as Float32Array };
  } finally {
    await s.release();
  }
}

describe('asinPoly', () => {
  // a dense grid, the branch point ±0.5 and its float neighbours, ±1, ±0 and tiny values
  const edge = [0.5, 1, 0, 1e-30, 1e-7, 0.49999997, 0.50000006, 0.99999994].flatMap((v) => [v, -v]);
  const x = Float32Array.from([...Array.from({ length: 200001 }, (_, i) => -1 + i / 100000), ...edge]);

  it('matches Math.asin over [-1, 1] within 2e-7 absolute (float32 rounding of values up to π/2)', async () => {
    const { y } = await run(x);
    let worst = 0;
    let at = 0;
    for (let i = 0; i < x.length; i++) {
      const err = Math.abs(y[i]! - Math.asin(x[i]!));
      if (!(err <= worst)) [worst, at] = [err, x[i]!];
    }
    expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(2e-7);
    // odd, and exact where asin is: 0 → 0, ±1 → ±π/2 in float32
    expect(Object.is(y[x.length - edge.length + 4], 0)).toBe(true);
    expect(y[x.length - edge.length + 2]).toBe(Math.fround(Math.PI / 2));
    expect(y[x.length - edge.length + 3]).toBe(-Math.fround(Math.PI / 2));
  });

  it('has gradient 1/√(1 − x²) within 1e-5 relative on |x| ≤ 0.999, and 1 at 0', async () => {
    const { dx } = await run(x);
    let worst = 0;
    let at = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (Math.abs(v) > 0.999) continue;
      const want = 1 / Math.sqrt(1 - v * v);
      const err = Math.abs(dx[i]! - want) / want;
      if (!(err <= worst)) [worst, at] = [err, v];
    }
    expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(1e-5);
    expect(dx[x.length - edge.length + 4]).toBe(1);
    expect(dx.every((v, i) => Math.abs(x[i]!) === 1 || Number.isFinite(v))).toBe(true);
  });

  it('emits no Asin node', () => {
    const g = new G.Graph();
    const xi = g.input('x', [4]);
    const y = G.asinPoly(xi);
    g.output(G.grad(G.reduceSum(y, [0], false), [xi])[0]!, 'dx');
    g.output(y, 'y');
    expect(G.emittedNodes(g).map((n) => n.opType)).not.toContain('Asin');
  });
});
