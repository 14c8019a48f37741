import { GraphError, type Tensor } from '../graph.ts';
import { defineOp } from './registry.ts';

/** Inclusive prefix sum along axis (reverse: from the end). ORT runs it in order, so it is deterministic. */
export function cumsum(x: Tensor, axis: number, reverse = false): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw new GraphError(`CumSum: axis ${axis} out of range for ${x}`);
  if (x.dtype === 'bool') throw new GraphError(`CumSum: ${x} is not numeric`);
  return x.graph.addNode('CumSum', [x], { axis: a, reverse }, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}
defineOp('CumSum', {
  vjp: ({ node, gy }) => [cumsum(gy[0]!, node.attrs.axis as number, !node.attrs.reverse)],
  emit: (n, e) => e.node('CumSum', [e.name(n.inputs[0]!), e.int64([n.attrs.axis as number])], [e.outName(n, 0)], { reverse: n.attrs.reverse ? 1 : 0 }),
});

/**
 * The k smallest (or largest) entries along axis, sorted, and their indices. Equal values come out in
 * the order of their indices (the ONNX spec; ORT's CPU kernel compares indices on ties, its CUDA kernel
 * uses a stable radix sort). No gradient: the engine sorts integer keys only.
 */
export function topK(x: Tensor, k: number, axis: number, largest = false): { values: Tensor; indices: Tensor } {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw new GraphError(`TopK: axis ${axis} out of range for ${x}`);
  if (!Number.isInteger(k) || k < 1 || k > x.shape[a]!) throw new GraphError(`TopK: k = ${k} for axis ${a} of ${x}`);
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const [values, indices] = x.graph.addNode('TopK', [x], { k, axis: a, largest: largest ? 1 : 0 }, [
    { shape, dtype: x.dtype },
    { shape, dtype: 'int64' },
  ]);
  return { values: values!, indices: indices! };
}
defineOp('TopK', {
  emit: (n, e) =>
    e.node('TopK', [e.name(n.inputs[0]!), e.int64([n.attrs.k as number])], [e.outName(n, 0), e.outName(n, 1)], {
      axis: n.attrs.axis,
      largest: n.attrs.largest,
      sorted: 1,
    }),
});

/**
 * How to sum the rows of a gather's gradient back into its n source rows without a scatter: the rows
 * in order of destination (a stable counting sort, so the order of each sum is fixed), as indices into
 * [a zero row, then the T rows], and bounds[d]..bounds[d+1] the sorted positions that land on row d.
 */
export interface AdjointPlan {
  perm: BigInt64Array;
  bounds: BigInt64Array;
}

/** Plan for indices idx (each in [0, n)); idx may be a BigInt64Array or its low 32-bit words. */
export function adjointPlan(idx: BigInt64Array, n: number): AdjointPlan {
  const T = idx.length;
  const words = new Int32Array(idx.buffer, idx.byteOffset, T * 2);
  const counts = new Int32Array(n + 1);
  for (let t = 0; t < T; t++) {
    const d = words[2 * t]!;
    if (words[2 * t + 1] !== 0 || d < 0 || d >= n) throw new GraphError(`gather adjoint: index ${idx[t]} out of range [0, ${n})`);
    counts[d + 1]!++;
  }
  const bounds = new BigInt64Array(n + 1);
  const bw = new Int32Array(bounds.buffer);
  for (let d = 0; d < n; d++) {
    counts[d + 1]! += counts[d]!;
    bw[2 * (d + 1)] = counts[d + 1]!;
  }
  const perm = new BigInt64Array(T + 1);
  const pw = new Int32Array(perm.buffer);
  const next = counts.subarray(0, n);
  for (let t = 0; t < T; t++) pw[2 * (1 + next[words[2 * t]!]!++)] = t + 1;
  return { perm, bounds };
}

/** True when no index repeats, so a plain scatter writes each destination once. */
export function indicesUnique(idx: BigInt64Array, n: number): boolean {
  const seen = new Uint8Array(n);
  for (const v of idx) {
    const d = Number(v);
    if (seen[d]) return false;
    seen[d] = 1;
  }
  return true;
}
