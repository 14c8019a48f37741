import { GraphError, fmt, sameShape, type Graph, type Node, type Tensor } from './graph.ts';
import { add, opDef } from './ops/index.ts';

/**
 * Reverse-mode differentiation: appends the vector-Jacobian products of every node between `wrt` and
 * `y` to the graph and returns d(sum(y · seed))/d(wrt[i]). Only float tensors that depend on `wrt`
 * carry gradients, so weights (constants) never get one.
 */
export function grad(y: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  const g = y.graph;
  if (y.dtype !== 'float32') throw new GraphError(`grad: ${y} is not float32`);
  if (!seed && y.size !== 1) throw new GraphError(`grad: ${y} is not a scalar; pass a seed of shape ${fmt(y.shape)}`);
  if (seed && !sameShape(seed.shape, y.shape)) throw new GraphError(`grad: seed ${seed} does not match ${y}`);

  const depends = forwardReach(g, wrt);
  const grads = new Map<number, Tensor>();
  grads.set(y.id, seed ?? g.constant(Float32Array.of(1), y.shape, `grad_seed_${y.id}`));

  const last = y.producer ? y.producer.id : -1;
  for (let i = last; i >= 0; i--) {
    const node = g.nodes[i]!;
    const gy = node.outputs.map((o) => grads.get(o.id) ?? null);
    if (gy.every((t) => t === null)) continue;
    const needs = node.inputs.map((t) => t.dtype === 'float32' && depends.has(t.id));
    if (!needs.some(Boolean)) continue;
    const def = opDef(node.op);
    if (!def.vjp) throw new GraphError(`grad: op ${node.op} (${node.scope || 'top'}) has no gradient`);
    const gx = g.scope(node.scope ? `grad.${node.scope}` : "grad", () => def.vjp!({ node, g, gy, needs }));
    node.inputs.forEach((t, k) => {
      const gk = gx[k];
      if (!needs[k] || !gk) return;
      if (!sameShape(gk.shape, t.shape)) {
        throw new GraphError(`grad: ${node.op} gave a gradient ${gk} for input ${k} of shape ${fmt(t.shape)}`);
      }
      const prev = grads.get(t.id);
      grads.set(t.id, prev ? add(prev, gk) : gk);
    });
  }
  return wrt.map((t) => grads.get(t.id) ?? g.scope('grad', () => zerosLike(t)));
}

function zerosLike(t: Tensor): Tensor {
  return t.graph.addNode('Expand', [t.graph.scalar(0)], { shape: [...t.shape] }, [{ shape: t.shape, dtype: 'float32' }])[0]!;
}

/** Ids of the tensors that depend on any of `from`. */
function forwardReach(g: Graph, from: readonly Tensor[]): Set<number> {
  const reach = new Set(from.map((t) => t.id));
  for (const node of g.nodes) {
    if (node.inputs.some((t) => reach.has(t.id))) for (const o of node.outputs) reach.add(o.id);
  }
  return reach;
}

export type { Node };
