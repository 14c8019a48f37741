import { GraphError, type Tensor } from '../graph.ts';
import { broadcastShapes, unbroadcast } from './broadcast.ts';
import { add, mul } from './elementwise.ts';
import { reshape, transpose } from './movement.ts';
import { defineOp } from './registry.ts';

/** Swaps the last two axes. */
export function mT(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return transpose(x, perm);
}

/** Batched matrix product with NumPy broadcasting of the batch axes (both operands rank ≥ 2). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new GraphError(`MatMul: operands must have rank ≥ 2, got ${a} and ${b}`);
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2) throw new GraphError(`MatMul: inner dimensions differ: ${a} @ ${b} (${k} vs ${k2})`);
  const batch = broadcastShapes('MatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  return a.graph.addNode('MatMul', [a, b], {}, [{ shape: [...batch, m, n], dtype: 'float32' }])[0]!;
}
defineOp('MatMul', {
  vjp: ({ node, gy, needs }) => {
    const [a, b] = node.inputs as [Tensor, Tensor];
    return [
      needs[0] ? unbroadcast(matmulT(gy[0]!, b, false, true), a.shape) : null,
      needs[1] ? unbroadcast(matmulT(a, gy[0]!, true, false), b.shape) : null,
    ];
  },
});

/**
 * op(A)·op(B), op transposing the last two axes where asked, batch axes broadcast: ONNX Runtime's
 * FusedMatMul (com.microsoft), whose kernels read an operand transposed in place. A Transpose node
 * instead costs a pass, and a slow one when it moves the inner axis (2 ms of 5 MB for CLIP's keys).
 */
export function matmulT(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  if (!transA && !transB) return matmul(a, b);
  if (a.rank < 2 || b.rank < 2) throw new GraphError(`FusedMatMul: operands must have rank ≥ 2, got ${a} and ${b}`);
  const [m, k] = (transA ? a.shape.slice(-2).reverse() : a.shape.slice(-2)) as [number, number];
  const [k2, n] = (transB ? b.shape.slice(-2).reverse() : b.shape.slice(-2)) as [number, number];
  if (k !== k2) throw new GraphError(`FusedMatMul: inner dimensions differ: ${a}${transA ? 'ᵀ' : ''} @ ${b}${transB ? 'ᵀ' : ''} (${k} vs ${k2})`);
  const batch = broadcastShapes('FusedMatMul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  return a.graph.addNode('FusedMatMul', [a, b], { transA: transA ? 1 : 0, transB: transB ? 1 : 0 }, [{ shape: [...batch, m, n], dtype: 'float32' }])[0]!;
}
defineOp('FusedMatMul', {
  vjp: ({ node, gy, needs }) => {
    const [a, b] = node.inputs as [Tensor, Tensor];
    const [tA, tB] = [node.attrs.transA === 1, node.attrs.transB === 1];
    const g = gy[0]!;
    // C = op(A)·op(B): d op(A) = g·op(B)ᵀ and d op(B) = op(A)ᵀ·g, transposed back where op transposed
    const ga = tA ? matmulT(b, g, tB, true) : matmulT(g, b, false, !tB);
    const gb = tB ? matmulT(g, a, true, tA) : matmulT(a, g, !tA, false);
    return [needs[0] ? unbroadcast(ga, a.shape) : null, needs[1] ? unbroadcast(gb, b.shape) : null];
  },
  emit: (n, e) => e.node('FusedMatMul', n.inputs.map((t) => e.name(t)), [e.outName(n, 0)], { alpha: 1, transA: n.attrs.transA, transB: n.attrs.transB }, 'com.microsoft'),
});

/** y = alpha·op(A)·op(B) + beta·C for 2-D A and B, as ONNX Gemm. */
export function gemm(a: Tensor, b: Tensor, c?: Tensor, opts: { transA?: boolean; transB?: boolean; alpha?: number; beta?: number } = {}): Tensor {
  if (a.rank !== 2 || b.rank !== 2) throw new GraphError(`Gemm: A and B must be 2-D, got ${a} and ${b}`);
  const [m, k] = opts.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [k2, n] = opts.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (k !== k2) throw new GraphError(`Gemm: inner dimensions differ: ${a} and ${b} (${k} vs ${k2})`);
  if (c) broadcastShapes('Gemm', c.shape, [m, n]);
  const attrs = { transA: opts.transA ? 1 : 0, transB: opts.transB ? 1 : 0, alpha: opts.alpha ?? 1, beta: opts.beta ?? 1 };
  return a.graph.addNode('Gemm', c ? [a, b, c] : [a, b], attrs, [{ shape: [m, n], dtype: 'float32' }])[0]!;
}
defineOp('Gemm', {
  vjp: ({ node, gy, needs }) => {
    const [a, b, c] = node.inputs as [Tensor, Tensor, Tensor | undefined];
    const { transA, transB, alpha, beta } = node.attrs as { transA: number; transB: number; alpha: number; beta: number };
    const g = alpha === 1 ? gy[0]! : mul(gy[0]!, alpha);
    const opB = transB ? b : mT(b); // op(B)^T
    const opA = transA ? a : mT(a); // op(A)^T
    const ga = needs[0] ? (transA ? mT(matmul(g, opB)) : matmul(g, opB)) : null;
    const gb = needs[1] ? (transB ? mT(matmul(opA, g)) : matmul(opA, g)) : null;
    const gc = c && needs[2] ? unbroadcast(beta === 1 ? gy[0]! : mul(gy[0]!, beta), c.shape) : null;
    return c ? [ga, gb, gc] : [ga, gb];
  },
});

/**
 * torch.nn.Linear: x @ Wᵀ + b with W [out, in], as a Gemm with transB over the rows of x. The forward
 * and the gradient (gy @ W) then read W in its stored layout: no transposed copy of every weight.
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const [out, inF] = w.shape as [number, number];
  if (w.rank !== 2 || x.shape[x.rank - 1] !== inF) throw new GraphError(`Linear: ${x} does not fit weight ${w}`);
  const rows = x.rank === 2 ? x : reshape(x, [x.size / inF, inF]);
  const y = gemm(rows, w, b, { transB: true });
  return x.rank === 2 ? y : reshape(y, [...x.shape.slice(0, -1), out]);
}
