/**
 * Broadcasting and its adjoint. Expand and ReduceSum are each other's gradient and every binary op's
 * gradient undoes broadcasting with them, so they sit here, below elementwise.ts and reduce.ts.
 */
import { GraphError, fmt, sameShape, type Node, type Shape, type Tensor } from '../graph.ts';
import { normAxes } from './axes.ts';
import { reshape } from './movement.ts';
import { defineOp, type Emitter } from './registry.ts';

/** NumPy broadcasting of two shapes, with an error that names the op. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new GraphError(`${op}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

export function expand(x: Tensor, shape: Shape): Tensor {
  const out: number[] = [];
  const n = Math.max(shape.length, x.rank);
  for (let i = 0; i < n; i++) {
    const a = x.shape[x.rank - n + i] ?? 1;
    const b = shape[shape.length - n + i] ?? 1;
    if (a !== b && a !== 1 && b !== 1) throw new GraphError(`Expand: cannot expand ${x} to ${fmt(shape)}`);
    out.push(Math.max(a, b));
  }
  if (sameShape(out, x.shape)) return x;
  return x.graph.addNode('Expand', [x], { shape: out }, [{ shape: out, dtype: x.dtype }])[0]!;
}
defineOp('Expand', {
  vjp: ({ node, gy }) => [unbroadcast(gy[0]!, node.inputs[0]!.shape)],
  emit: (n, e) => e.node('Expand', [e.name(n.inputs[0]!), e.int64(n.attrs.shape as number[])], [e.outName(n, 0)]),
});

export function zeros(g: Tensor['graph'], shape: Shape): Tensor {
  return expand(g.scalar(0), shape);
}

/** A ReduceSum, ReduceMean or ReduceMax node (reduce.ts builds the last two). */
export function reduceNode(op: 'ReduceSum' | 'ReduceMean' | 'ReduceMax', x: Tensor, axes: readonly number[], keepdims: boolean): Tensor {
  const ax = normAxes(op, x, axes);
  const shape = keepdims ? x.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !ax.includes(i));
  return x.graph.addNode(op, [x], { axes: ax, keepdims: keepdims ? 1 : 0 }, [{ shape, dtype: x.dtype }])[0]!;
}

export const emitReduce = (n: Node, e: Emitter) =>
  e.node(n.op, [e.name(n.inputs[0]!), e.int64(n.attrs.axes as number[])], [e.outName(n, 0)], { keepdims: n.attrs.keepdims });

/** A reduction's gy reshaped to the keepdims shape and broadcast over x's shape. */
export function spread(node: Node, gy: Tensor): Tensor {
  const x = node.inputs[0]!;
  const axes = node.attrs.axes as number[];
  return expand(reshape(gy, x.shape.map((d, i) => (axes.includes(i) ? 1 : d))), x.shape);
}

export const reduceSum = (x: Tensor, axes: readonly number[], keepdims = true): Tensor => reduceNode('ReduceSum', x, axes, keepdims);
defineOp('ReduceSum', { vjp: ({ node, gy }) => [spread(node, gy[0]!)], emit: emitReduce });

/** Sums a gradient of the broadcast shape back down to `shape` (undoing broadcasting). */
export function unbroadcast(grad: Tensor, shape: Shape): Tensor {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduceSum(grad, axes, true) : grad;
  return sameShape(summed.shape, shape) ? summed : reshape(summed, shape);
}
