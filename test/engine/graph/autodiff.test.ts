/**
 * grad() as a whole: summed gradients for reused tensors, only requested gradients emitted, dead nodes
 * pruned from the serialised model, clear build-time errors.
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { evaluate, gradcheck } from './gradcheck.ts';

describe('gradient accumulation', () => {
  it('a tensor used twice gets the sum of both gradients (x + x)', async () => {
    const seed = Float32Array.from([1, -2, 0.5]);
    const { grads } = await evaluate([{ shape: [3] }], (_, [x]) => G.add(x!, x!), [Float32Array.from([1, 2, 3])], seed);
    expect(Array.from(grads[0]!)).toEqual([2, -4, 1]);
  });
  it('a tensor used by several consumers at different depths (x·exp(x) + tanh(x)·x + x)', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 5] }],
      build: (_, [x]) => G.add(G.add(G.mul(x!, G.exp(x!)), G.mul(G.tanh(x!), x!)), x!),
      reference: ([x]) => Float64Array.from(x as Float32Array, (v) => v * Math.exp(v) + Math.tanh(v) * v + v),
    });
  });
  it('an intermediate reused through broadcasting and a reduction', async () => {
    await gradcheck({
      inputs: [{ shape: [3, 4] }],
      build: (_, [x]) => {
        const s = G.reduceSum(x!, [1], true); // [3,1]
        return G.mul(G.sub(x!, s), G.sigmoid(s));
      },
    });
  });
  it('several wrt at once, one unused (its gradient is zeros)', async () => {
    const r = await evaluate(
      [{ shape: [2] }, { shape: [2] }, { shape: [2] }],
      (_, [a, b]) => G.mul(a!, b!),
      [Float32Array.from([1, 2]), Float32Array.from([3, 4]), Float32Array.from([5, 6])],
    );
    expect(r.grads.map((g) => Array.from(g))).toEqual([
      [3, 4],
      [1, 2],
      [0, 0],
    ]);
  });
  it('a seed for a non-scalar output, and the wrt of an intermediate tensor', () => {
    const g = new G.Graph();
    const x = g.input('x', [2, 3]);
    const h = G.exp(x);
    const y = G.mul(h, 2);
    expect(() => G.grad(y, [x])).toThrow(/grad: float32\[2,3\] is not a scalar; pass a seed of shape \[2,3\]/);
    expect(() => G.grad(y, [x], g.input('s', [3, 2]))).toThrow(/grad: seed float32\[3,2\] does not match float32\[2,3\]/);
    const [gh] = G.grad(G.sumAll(y), [h]);
    expect(gh!.shape).toEqual([2, 3]);
  });
});

describe('pruning', () => {
  it('dead branches are not serialised', () => {
    const build = (dead: boolean) => {
      const g = new G.Graph();
      const x = g.input('x', [4, 4]);
      const y = G.exp(x);
      if (dead) {
        G.matmul(G.tanh(x), G.transpose(y, [1, 0]));
        G.reduceSum(G.sqrt(G.abs(y)), [0]);
      }
      g.output(G.sumAll(y), 'L');
      return g;
    };
    const live = G.serialize(build(false));
    const withDead = G.serialize(build(true));
    expect(build(true).nodes.length).toBeGreaterThan(build(false).nodes.length);
    expect(withDead.nodeCount).toBe(live.nodeCount);
    expect(live.nodeCount).toBe(3); // Exp, ReduceSum, output Identity
  });
  it('grad emits nothing for constants; gradients of unneeded inputs are pruned', () => {
    const g = new G.Graph();
    const x = g.input('x', [3, 4]);
    const w = g.constant(new Float32Array(4 * 5).fill(0.1), [4, 5]);
    const c = g.constant(new Float32Array(5).fill(1), [5]);
    const L = G.sumAll(G.add(G.matmul(x, w), c));
    const before = g.nodes.length;
    const [gx] = G.grad(L, [x]);
    g.output(gx!, 'gx');
    const model = G.serialize(g);
    // backward of sumAll (Reshape→Expand), Add (pass-through, reshape for c pruned), MatMul (gy·wᵀ, one FusedMatMul)
    const emitted = G.liveNodes(g).filter((n) => n.id >= before).map((n) => n.op);
    expect(emitted).not.toContain('ReduceSum'); // the unbroadcast for the constant c is dead
    expect(emitted.filter((op) => op === 'MatMul' || op === 'FusedMatMul')).toEqual(['FusedMatMul']); // no gradient for w
    expect(model.nodeCount).toBe(G.liveNodes(g).length + 1);
    expect(g.nodes.length - before).toBeGreaterThan(emitted.length);
  });
});

describe('build-time shape errors', () => {
  const g = new G.Graph();
  it('MatMul inner dimensions', () => {
    expect(() => G.matmul(g.input('a', [2, 3]), g.input('b', [4, 5]))).toThrow(/MatMul: inner dimensions differ: float32\[2,3\] @ float32\[4,5\] \(3 vs 4\)/);
    expect(() => G.matmul(g.input('c', [2, 3, 4]), g.input('d', [3, 4, 5]))).toThrow(/MatMul: shapes \[2\] and \[3\] do not broadcast/);
  });
  it('Conv channels and kernel fit', () => {
    const x = g.input('x', [1, 3, 8, 8]);
    expect(() => G.conv2d(x, g.input('w', [4, 2, 3, 3]))).toThrow(/Conv: input float32\[1,3,8,8\] has 3 channels but weight float32\[4,2,3,3\] with group 1 expects 2/);
    expect(() => G.conv2d(x, g.input('w2', [4, 3, 3, 3]), g.input('b2', [5]))).toThrow(/Conv: bias float32\[5\] should be \[4\]/);
    expect(() => G.conv2d(x, g.input('w3', [4, 3, 9, 9]))).toThrow(/Conv: kernel 9×9 does not fit/);
    expect(() => G.convTranspose2d(x, g.input('w4', [2, 3, 3, 3]))).toThrow(/ConvTranspose: input float32\[1,3,8,8\] has 3 channels, weight float32\[2,3,3,3\] expects 2/);
  });
  it('broadcast failure names the op and the dimension', () => {
    expect(() => G.add(g.input('p', [2, 3]), g.input('q', [4]))).toThrow(/Add: shapes \[2,3\] and \[4\] do not broadcast \(dimension 1: 3 vs 4\)/);
    expect(() => G.where(G.greater(g.input('r', [2, 3]), 0), g.input('s', [3, 2]), 0)).toThrow(/Where: shapes/);
  });
  it('reshape, concat, split, transpose, gather dtype', () => {
    const x = g.input('t', [2, 3]);
    expect(() => G.reshape(x, [4, 2])).toThrow(/Reshape: cannot reshape float32\[2,3\] \(6 elements\) to \[4,2\] \(8\)/);
    expect(() => G.concat([x, g.input('u', [2, 4])], 0)).toThrow(/Concat: float32\[2,4\] does not match float32\[2,3\] outside axis 0/);
    expect(() => G.split(x, 1, [1, 1])).toThrow(/Split: sizes \[1,1\] do not add up to dimension 1/);
    expect(() => G.transpose(x, [0, 0])).toThrow(/Transpose: perm \[0,0\] is not a permutation/);
    expect(() => G.gather(x, g.input('i', [2]), 0)).toThrow(/Gather: indices must be int64/);
  });
  it('a gradient through an op without one names the op', () => {
    // A test-only op, outside the closed OpName set.
    const op = 'TestNoGradient' as G.OpName;
    G.defineOp(op, {});
    const h = new G.Graph();
    const x = h.input('x', [2]);
    const y = h.scope('blk', () => h.addNode(op, [x], {}, [{ shape: [2], dtype: 'float32' }])[0]!);
    expect(() => G.grad(G.sumAll(y), [x])).toThrow(/grad: op TestNoGradient \(blk\) has no gradient/);
  });
});
