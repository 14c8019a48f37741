import type { Tensor } from '../graph.ts';

const transposedConstants = new WeakMap<Tensor, Map<string, Tensor>>();

/**
 * The transpose of a float32 constant, computed here once per (constant, perm) rather than left for
 * ONNX Runtime to fold (or not): weights are transposed at build time and stay initializers.
 */
export function transposedConstant(x: Tensor, data: Float32Array, perm: readonly number[], shape: number[]): Tensor {
  let byPerm = transposedConstants.get(x);
  if (!byPerm) transposedConstants.set(x, (byPerm = new Map()));
  const key = perm.join(',');
  const cached = byPerm.get(key);
  if (cached) return cached;
  const rank = x.rank;
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, st = 1; i >= 0; i--) {
    inStrides[i] = st;
    st *= x.shape[i]!;
  }
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  const step = perm.map((p) => inStrides[p]!);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      src += step[d]!;
      if (idx[d]! < shape[d]!) break;
      src -= step[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  const name = `${x.graph.initializers.get(x.id)?.name ?? 'const'}_T${perm.join('')}`;
  const t = x.graph.constant(out, shape, name);
  byPerm.set(key, t);
  // transposing back gives the original weight, not a third copy of it (MatMul's gradient does this)
  transposedConstants.set(t, new Map([[perm.map((_, i) => perm.indexOf(i)).join(','), x]]));
  return t;
}
