import { GraphError, fmt, sameShape, type Tensor } from '../graph.ts';
import { and, greaterOrEqual, lessOrEqual, mul, sub, where } from './elementwise.ts';
import { defineOp } from './registry.ts';

/** Forward x, backward nothing (torch's .detach()). */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.addNode('StopGradient', [x], {}, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}
defineOp('StopGradient', {
  vjp: () => [null],
  emit: (n, e) => e.node('Identity', [e.name(n.inputs[0]!)], [e.outName(n, 0)]),
});

/** Forward `forward`, backward the gradient goes to `backward` unchanged (straight-through). */
export function replaceGrad(forward: Tensor, backward: Tensor): Tensor {
  if (!sameShape(forward.shape, backward.shape)) throw new GraphError(`ReplaceGrad: ${fmt(forward.shape)} vs ${fmt(backward.shape)}`);
  return forward.graph.addNode('ReplaceGrad', [forward, backward], {}, [{ shape: forward.shape, dtype: forward.dtype }])[0]!;
}
defineOp('ReplaceGrad', {
  vjp: ({ gy }) => [null, gy[0]!],
  emit: (n, e) => e.node('Identity', [e.name(n.inputs[0]!)], [e.outName(n, 0)]),
});

/** Clip with constant bounds; the gradient passes where min ≤ x ≤ max. */
export function clip(x: Tensor, min: number, max: number): Tensor {
  if (!(min <= max)) throw new GraphError(`Clip: min ${min} > max ${max}`);
  return x.graph.addNode('Clip', [x], { min, max }, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}
defineOp('Clip', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const inside = and(greaterOrEqual(x, node.attrs.min as number), lessOrEqual(x, node.attrs.max as number));
    return [where(inside, gy[0]!, x.graph.scalar(0))];
  },
  emit: (n, e) => e.node('Clip', [e.name(n.inputs[0]!), e.float([n.attrs.min as number], []), e.float([n.attrs.max as number], [])], [e.outName(n, 0)]),
});

/**
 * clamp_with_grad from the VQGAN+CLIP notebooks: forward clamps, backward lets the gradient through
 * inside the range and, outside it, only where a descent step moves x back toward the range.
 */
export function clampWithGrad(x: Tensor, min: number, max: number): Tensor {
  return x.graph.addNode('ClampWithGrad', [x], { min, max }, [{ shape: x.shape, dtype: x.dtype }])[0]!;
}
defineOp('ClampWithGrad', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const g = gy[0]!;
    const keep = greaterOrEqual(mul(g, sub(x, node.outputs[0]!)), 0);
    return [where(keep, g, x.graph.scalar(0))];
  },
  emit: (n, e) => e.node('Clip', [e.name(n.inputs[0]!), e.float([n.attrs.min as number], []), e.float([n.attrs.max as number], [])], [e.outName(n, 0)]),
});
