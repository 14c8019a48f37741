import { GraphError, type Tensor } from '../graph.ts';
import { normAxis } from './axes.ts';
import { zeros } from './broadcast.ts';
import { defineOp } from './registry.ts';

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (!xs.length) throw new GraphError('Concat: no inputs');
  const first = xs[0]!;
  const a = normAxis('Concat', axis, first.rank);
  for (const x of xs) {
    if (x.rank !== first.rank || x.dtype !== first.dtype || x.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new GraphError(`Concat: ${x} does not match ${first} outside axis ${a}`);
    }
  }
  if (xs.length === 1) return first;
  const shape = [...first.shape];
  shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0);
  return first.graph.addNode('Concat', xs, { axis: a }, [{ shape, dtype: first.dtype }])[0]!;
}
defineOp('Concat', {
  vjp: ({ node, gy, needs }) => {
    const axis = node.attrs.axis as number;
    const parts = split(gy[0]!, axis, node.inputs.map((t) => t.shape[axis]!));
    return parts.map((p, i) => (needs[i] ? p : null));
  },
});

export function split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
  const a = normAxis('Split', axis, x.rank);
  if (sizes.reduce((s, v) => s + v, 0) !== x.shape[a]) {
    throw new GraphError(`Split: sizes [${sizes.join(',')}] do not add up to dimension ${a} of ${x}`);
  }
  if (sizes.length === 1) return [x];
  const outs = sizes.map((s) => {
    const shape = [...x.shape];
    shape[a] = s;
    return { shape, dtype: x.dtype };
  });
  return x.graph.addNode('Split', [x], { axis: a, split: [...sizes] }, outs);
}
defineOp('Split', {
  vjp: ({ node, gy }) => {
    const parts = node.outputs.map((o, i) => gy[i] ?? zeros(node.inputs[0]!.graph, o.shape));
    return [concat(parts, node.attrs.axis as number)];
  },
  emit: (n, e) =>
    e.node('Split', [e.name(n.inputs[0]!), e.int64(n.attrs.split as number[])], n.outputs.map((o) => e.name(o)), { axis: n.attrs.axis }),
});
