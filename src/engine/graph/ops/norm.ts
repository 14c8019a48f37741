import { GraphError, numel, type Graph, type Tensor } from '../graph.ts';
import { add, mul, neg, sigmoid, sub } from './elementwise.ts';
import { reduceMean } from './reduce.ts';
import { reshape } from './movement.ts';
import { defineOp } from './registry.ts';

/** LayerNormalization over the last axis (ONNX 17 kernel), weight and bias [D]. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, epsilon = 1e-5): Tensor {
  const d = x.shape[x.rank - 1]!;
  if (weight.shape.length !== 1 || weight.shape[0] !== d || bias.shape[0] !== d) {
    throw new GraphError(`LayerNormalization: weight ${weight} / bias ${bias} should be [${d}] for ${x}`);
  }
  const statShape = [...x.shape.slice(0, -1), 1];
  return x.graph.addNode('LayerNormalization', [x, weight, bias], { axis: -1, epsilon }, [
    { shape: x.shape, dtype: 'float32' },
    { shape: statShape, dtype: 'float32' },
    { shape: statShape, dtype: 'float32' },
  ])[0]!;
}
defineOp('LayerNormalization', {
  optionalOutputs: true,
  vjp: ({ node, gy, needs }) => {
    const [x, w] = node.inputs as [Tensor, Tensor];
    if (needs[1] || needs[2]) throw new GraphError('LayerNormalization: no gradient for weight or bias');
    const [, mean, rstd] = node.outputs as [Tensor, Tensor, Tensor];
    const xhat = mul(sub(x, mean), rstd);
    const gw = mul(gy[0]!, w);
    const gx = mul(rstd, sub(sub(gw, reduceMean(gw, [-1])), mul(xhat, reduceMean(mul(gw, xhat), [-1]))));
    return [gx, null, null];
  },
});

/** Standardises each row of x (over its last axis) to zero mean and unit variance, no affine. */
export function standardizeRows(x: Tensor, epsilon: number): Tensor {
  if (x.rank !== 3) throw new GraphError(`StandardizeRows: expects [N, G, L], got ${x}`);
  const [n, groups, l] = x.shape as [number, number, number];
  const { ones, zeros } = affineIdentity(x.graph, l);
  return x.graph.addNode('StandardizeRows', [x, ones, zeros], { epsilon }, [
    { shape: x.shape, dtype: 'float32' },
    { shape: [n, groups, 1], dtype: 'float32' },
  ])[0]!;
}
defineOp('StandardizeRows', {
  optionalOutputs: true,
  // LayerNormalization over the last axis also gives 1/σ per row, so the gradient needs only the
  // normalised output and 1/σ: the (equally large) input can be freed after the forward pass.
  emit: (n, e) => {
    const [x, ones, zeros] = n.inputs.map((t) => e.name(t));
    e.node('LayerNormalization', [x!, ones!, zeros!], [e.outName(n, 0), '', e.outName(n, 1)], { axis: -1, epsilon: n.attrs.epsilon });
  },
  vjp: ({ node, gy }) => {
    const [y, rstd] = node.outputs as [Tensor, Tensor];
    const g = gy[0]!;
    return [mul(rstd, sub(sub(g, reduceMean(g, [-1])), mul(y, reduceMean(mul(g, y), [-1])))), null, null];
  },
});

const identities = new WeakMap<Graph, Map<number, { ones: Tensor; zeros: Tensor }>>();
function affineIdentity(g: Graph, l: number): { ones: Tensor; zeros: Tensor } {
  let byLen = identities.get(g);
  if (!byLen) identities.set(g, (byLen = new Map()));
  let c = byLen.get(l);
  if (!c) byLen.set(l, (c = { ones: g.constant(new Float32Array(l).fill(1), [l], `norm_ones_${l}`), zeros: g.constant(new Float32Array(l), [l], `norm_zeros_${l}`) }));
  return c;
}

/** GroupNorm's normalised tensor (no affine) and the broadcast shape of its per-channel weight and bias. */
function groupStandardized(x: Tensor, groups: number, weight: Tensor, bias: Tensor, epsilon: number): { y: Tensor; bshape: number[] } {
  const [n, c] = x.shape as [number, number];
  if (c % groups) throw new GraphError(`GroupNorm: ${c} channels do not split into ${groups} groups`);
  if (weight.shape[0] !== c || bias.shape[0] !== c) throw new GraphError(`GroupNorm: weight ${weight} / bias ${bias} should be [${c}]`);
  const rest = x.shape.slice(2);
  const y = reshape(standardizeRows(reshape(x, [n, groups, (c / groups) * numel(rest)]), epsilon), x.shape);
  return { y, bshape: [c, ...rest.map(() => 1)] };
}

/** torch.nn.GroupNorm on NCHW with per-channel affine weight and bias [C]. */
export function groupNorm(x: Tensor, groups: number, weight: Tensor, bias: Tensor, epsilon = 1e-6): Tensor {
  const { y, bshape } = groupStandardized(x, groups, weight, bias, epsilon);
  return add(mul(y, reshape(weight, bshape)), reshape(bias, bshape));
}

/**
 * swish(GroupNorm(x)), with the affine folded into one op so that the backward pass keeps only the
 * normalised tensor (which the normalisation's own gradient keeps anyway), not the affine output too.
 */
export function groupNormSwish(x: Tensor, groups: number, weight: Tensor, bias: Tensor, epsilon = 1e-6): Tensor {
  const { y, bshape } = groupStandardized(x, groups, weight, bias, epsilon);
  return x.graph.addNode('AffineSiLU', [y, reshape(weight, bshape), reshape(bias, bshape)], {}, [{ shape: x.shape, dtype: 'float32' }])[0]!;
}
defineOp('AffineSiLU', {
  vjp: ({ node, gy, needs }) => {
    if (needs[1] || needs[2]) throw new GraphError('AffineSiLU: no gradient for weight or bias');
    const [y, w, b] = node.inputs as [Tensor, Tensor, Tensor];
    // u = −(w·y + b) recomputed from y through the negated weight, so ONNX Runtime cannot merge it with
    // the forward's affine output and keep that full-size tensor alive; then as SiLU's gradient
    const u = sub(mul(y, neg(w)), b);
    const t = sigmoid(u);
    return [mul(mul(gy[0]!, mul(sub(1, t), sub(1, mul(u, t)))), w), null, null];
  },
  emit: (n, e) => {
    const [y, w, b] = n.inputs.map((t) => e.name(t)) as [string, string, string];
    const scaled = e.temp('affine_mul');
    const a = e.temp('affine');
    const s = e.temp('affine_sigmoid');
    e.node('Mul', [y, w], [scaled]);
    e.node('Add', [scaled, b], [a]);
    e.node('Sigmoid', [a], [s]);
    e.node('Mul', [a, s], [e.outName(n, 0)]);
  },
});
