import type { Tensor } from '../graph.ts';
import { emitReduce, expand, reduceNode, reduceSum, spread } from './broadcast.ts';
import { div, equal, mul, sub } from './elementwise.ts';
import { cast, reshape } from './movement.ts';
import { defineOp } from './registry.ts';

export const reduceMean = (x: Tensor, axes: readonly number[], keepdims = true): Tensor => reduceNode('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Tensor, axes: readonly number[], keepdims = true): Tensor => reduceNode('ReduceMax', x, axes, keepdims);
/** Sum of all elements as a scalar [] tensor. */
export const sumAll = (x: Tensor): Tensor => reduceSum(x, x.shape.map((_, i) => i), false);
export const meanAll = (x: Tensor): Tensor => reduceMean(x, x.shape.map((_, i) => i), false);

defineOp('ReduceMean', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const count = (node.attrs.axes as number[]).reduce((s, a) => s * x.shape[a]!, 1);
    return [div(spread(node, gy[0]!), count)];
  },
  emit: emitReduce,
});
defineOp('ReduceMax', {
  // Ties share the gradient equally (as torch.amax does).
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const axes = node.attrs.axes as number[];
    const keepShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const mask = cast(equal(x, reshape(node.outputs[0]!, keepShape)), 'float32');
    const count = reduceSum(mask, axes, true);
    return [div(mul(mask, expand(reshape(gy[0]!, keepShape), x.shape)), count)];
  },
  emit: emitReduce,
});

export function softmax(x: Tensor, axis = -1): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  return x.graph.addNode('Softmax', [x], { axis: a }, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}
defineOp('Softmax', {
  vjp: ({ node, gy }) => {
    const y = node.outputs[0]!;
    const g = gy[0]!;
    return [mul(y, sub(g, reduceSum(mul(g, y), [node.attrs.axis as number], true)))];
  },
});

function argReduce(op: 'ArgMin' | 'ArgMax', x: Tensor, axis: number, keepdims: boolean): Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.addNode(op, [x], { axis: a, keepdims: keepdims ? 1 : 0 }, [{ shape, dtype: 'int64' }])[0]!;
}
export const argMin = (x: Tensor, axis: number, keepdims = false): Tensor => argReduce('ArgMin', x, axis, keepdims);
export const argMax = (x: Tensor, axis: number, keepdims = false): Tensor => argReduce('ArgMax', x, axis, keepdims);
defineOp('ArgMin', { vjp: () => [null] });
defineOp('ArgMax', { vjp: () => [null] });
