import { GraphError, type Tensor } from '../graph.ts';
import { mul, neg } from './elementwise.ts';
import { defineOp } from './registry.ts';

function trig(op: 'Sin' | 'Cos', x: Tensor): Tensor {
  if (x.dtype !== 'float32') throw new GraphError(`${op}: expects float32, got ${x}`);
  return x.graph.addNode(op, [x], {}, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}

export const sin = (x: Tensor): Tensor => trig('Sin', x);
export const cos = (x: Tensor): Tensor => trig('Cos', x);

defineOp('Sin', { vjp: ({ node, gy }) => [mul(gy[0]!, cos(node.inputs[0]!))] });
defineOp('Cos', { vjp: ({ node, gy }) => [neg(mul(gy[0]!, sin(node.inputs[0]!)))] });
