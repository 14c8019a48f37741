import { describe, expect, it } from 'vitest';
import { Graph, conv2d, countFlops, matmul, add } from '../../../src/engine/graph/index.ts';

describe('countFlops', () => {
  it('counts 2·MACs of the matrix products and convolutions the outputs need, and nothing pruned', () => {
    const g = new Graph();
    const a = g.input('a', [5, 2, 3]);
    const b = g.input('b', [3, 4]);
    const x = g.input('x', [1, 4, 8, 8]);
    const w = g.input('w', [6, 2, 3, 3]);
    const y = conv2d(x, w, undefined, { pads: [1, 1, 1, 1], group: 2 });
    matmul(a, b); // dead: not an output
    g.output(add(matmul(a, b), 1), 'm');
    g.output(y, 'y');
    // MatMul: 5·2·4 outputs × 3 MACs; Conv: 1·6·8·8 outputs × (2·3·3) MACs
    expect(countFlops(g)).toBe(2 * (5 * 2 * 4 * 3) + 2 * (6 * 64 * 18));
  });
});
