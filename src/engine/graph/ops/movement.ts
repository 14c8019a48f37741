import { GraphError, fmt, numel, sameShape, type DType, type Shape, type Tensor } from '../graph.ts';
import { normAxis } from './axes.ts';
import { transposedConstant } from './fold.ts';
import { defineOp } from './registry.ts';

/** Reshape with one optional -1 (0 is taken literally as a zero-size dimension is never wanted here). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const known = shape.filter((d) => d !== -1);
  const unknown = shape.length - known.length;
  if (unknown > 1) throw new GraphError(`Reshape: more than one -1 in ${fmt(shape)}`);
  const out = [...shape];
  if (unknown) {
    const k = numel(known);
    if (k === 0 || x.size % k !== 0) throw new GraphError(`Reshape: cannot reshape ${x} to ${fmt(shape)}`);
    out[out.indexOf(-1)] = x.size / k;
  }
  if (numel(out) !== x.size) throw new GraphError(`Reshape: cannot reshape ${x} (${x.size} elements) to ${fmt(out)} (${numel(out)})`);
  if (sameShape(out, x.shape)) return x;
  return x.graph.addNode('Reshape', [x], { shape: out }, [{ shape: out, dtype: x.dtype }])[0]!;
}
defineOp('Reshape', {
  vjp: ({ node, gy }) => [reshape(gy[0]!, node.inputs[0]!.shape)],
  emit: (n, e) => e.node('Reshape', [e.name(n.inputs[0]!), e.int64(n.attrs.shape as number[])], [e.outName(n, 0)]),
});

export function squeeze(x: Tensor, axes: readonly number[]): Tensor {
  const ax = axes.map((a) => normAxis('Squeeze', a, x.rank));
  for (const a of ax) if (x.shape[a] !== 1) throw new GraphError(`Squeeze: dimension ${a} of ${x} is not 1`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.rank + axes.length;
  const ax = axes.map((a) => normAxis('Unsqueeze', a, rank));
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(ax.includes(i) ? 1 : x.shape[j++]!);
  return reshape(x, out);
}

export function flatten(x: Tensor, axis = 1): Tensor {
  return reshape(x, [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))]);
}

export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new GraphError(`Transpose: perm [${perm.join(',')}] is not a permutation of the ${x.rank} axes of ${x}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const shape = perm.map((p) => x.shape[p]!);
  const data = x.graph.constantData(x);
  if (data instanceof Float32Array) return transposedConstant(x, data, perm, shape);
  return x.graph.addNode('Transpose', [x], { perm: [...perm] }, [{ shape, dtype: x.dtype }])[0]!;
}
defineOp('Transpose', {
  vjp: ({ node, gy }) => {
    const perm = node.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(gy[0]!, inv)];
  },
});

/**
 * [N, (i, j, C), H, W] → [N, C, bH, bW] with out[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C + c, h, w]
 * (ONNX DepthToSpace, DCR order): a pixel shuffle in one pass, where the equal reshape-and-transpose
 * takes ORT's general 6-D transpose, about twice as long.
 */
export function depthToSpace(x: Tensor, block: number): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (x.rank !== 4 || c % (block * block)) throw new GraphError(`DepthToSpace: ${x} is not [N, C·${block}², H, W]`);
  return x.graph.addNode('DepthToSpace', [x], { blocksize: block, mode: 'DCR' }, [{ shape: [n, c / (block * block), h * block, w * block], dtype: x.dtype }])[0]!;
}
defineOp('DepthToSpace', { vjp: ({ node, gy }) => [spaceToDepth(gy[0]!, node.attrs.blocksize as number)] });

/** The inverse of depthToSpace: [N, C, bH, bW] → [N, (i, j, C), H, W]. */
export function spaceToDepth(x: Tensor, block: number): Tensor {
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (x.rank !== 4 || h % block || w % block) throw new GraphError(`SpaceToDepth: ${x} is not [N, C, H·${block}, W·${block}]`);
  return x.graph.addNode('SpaceToDepth', [x], { blocksize: block }, [{ shape: [n, c * block * block, h / block, w / block], dtype: x.dtype }])[0]!;
}
defineOp('SpaceToDepth', { vjp: ({ node, gy }) => [depthToSpace(gy[0]!, node.attrs.blocksize as number)] });

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return x.graph.addNode('Cast', [x], { to }, [{ shape: x.shape, dtype: to }])[0]!;
}
const onnxType: Record<DType, number> = { float32: 1, float64: 11, int64: 7, bool: 9 };
defineOp('Cast', {
  vjp: ({ node, gy }) => [node.inputs[0]!.dtype === 'float32' ? cast(gy[0]!, 'float32') : null],
  emit: (n, e) => e.node('Cast', [e.name(n.inputs[0]!)], [e.outName(n, 0)], { to: onnxType[n.attrs.to as DType] }),
});
