/** The checker itself: it must reject a wrong gradient and a wrong forward. */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import type { Tensor } from '../../../src/engine/graph/index.ts';
import { GradcheckError, U, gradcheck } from './gradcheck.ts';

// Test-only ops (outside the closed OpName set): forward x·x, with a gradient off by a factor (1.03) or
// on one element only.
G.defineOp('TestSquareGradOff' as G.OpName, {
  emit: (n, e) => e.node('Mul', [e.name(n.inputs[0]!), e.name(n.inputs[0]!)], [e.outName(n, 0)]),
  vjp: ({ node, gy }) => [G.mul(gy[0]!, G.mul(node.inputs[0]!, 2 * 1.03))],
});
G.defineOp('TestSquareGradZeroFirst' as G.OpName, {
  emit: (n, e) => e.node('Mul', [e.name(n.inputs[0]!), e.name(n.inputs[0]!)], [e.outName(n, 0)]),
  vjp: ({ node, gy, g }) => {
    const x = node.inputs[0]!;
    const mask = g.constant(Float32Array.from({ length: x.size }, (_, i) => (i === 0 ? 0 : 1)), x.shape);
    return [G.mul(mask, G.mul(gy[0]!, G.mul(x, 2)))];
  },
});
const custom = (op: string) => (x: Tensor) => x.graph.addNode(op as G.OpName, [x], {}, [{ shape: x.shape, dtype: 'float32' }])[0]!;

describe('gradcheck', () => {
  it('accepts a correct gradient', async () => {
    const r = await gradcheck({ inputs: [{ shape: [40, 3] }], build: (_, [x]) => G.square(x!) });
    expect(r.worst).toBeLessThan(1);
  });
  it('rejects a gradient 3% off (directional check)', async () => {
    await expect(gradcheck({ inputs: [{ shape: [40, 3] }], build: (_, [x]) => custom('TestSquareGradOff')(x!), full: false })).rejects.toThrow(
      GradcheckError,
    );
  });
  it('rejects a gradient wrong in one element of 24 (per-element check)', async () => {
    await expect(
      gradcheck({ inputs: [{ shape: [2, 3, 4], gen: U(0.5, 1) }], build: (_, [x]) => custom('TestSquareGradZeroFirst')(x!), directions: 0 }),
    ).rejects.toThrow(/element 0/);
  });
  it('rejects a forward that differs from the reference', async () => {
    await expect(
      gradcheck({ inputs: [{ shape: [4] }], build: (_, [x]) => G.exp(x!), reference: ([x]) => Float64Array.from(x as Float32Array, (v) => Math.exp(v) * 1.001) }),
    ).rejects.toThrow(/forward differs/);
  });
});
