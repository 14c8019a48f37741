/**
 * Ops that pick or place elements by index: slice, pad, gather, scatter. Strided slices and reflect
 * padding are index maps, so their gradients are the gather adjoint (gatherBackward), which in turn
 * slices: they share this file.
 */
import { GraphError, fmt, numel, sameShape, type Node, type Shape, type Tensor } from '../graph.ts';
import { normAxis } from './axes.ts';
import { zeros } from './broadcast.ts';
import { concat } from './concat.ts';
import { sub } from './elementwise.ts';
import { cast, reshape, transpose, unsqueeze } from './movement.ts';
import { adjointPlan, cumsum, indicesUnique } from './scan.ts';
import { defineOp, type Emitter } from './registry.ts';

/** x[starts:ends] on the given axes (step 1 unless given; negative indices count from the end). */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Tensor {
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis('Slice', a, x.rank));
  const shape = [...x.shape];
  const st: number[] = [];
  const en: number[] = [];
  const sp: number[] = [];
  ax.forEach((a, i) => {
    const n = x.shape[a]!;
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new GraphError('Slice: step 0');
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + n : v, lo), hi);
    const s = step > 0 ? clampIdx(starts[i]!, 0, n) : clampIdx(starts[i]!, -1, n - 1);
    const e = step > 0 ? clampIdx(ends[i]!, 0, n) : ends[i]! < -n ? -1 : clampIdx(ends[i]!, -1, n - 1);
    const len = Math.max(0, Math.ceil((e - s) / step));
    if (len === 0) throw new GraphError(`Slice: empty slice of axis ${a} of ${x}`);
    shape[a] = len;
    st.push(s);
    en.push(step > 0 ? e : e < 0 ? -n - 1 : e);
    sp.push(step);
  });
  return x.graph.addNode('Slice', [x], { starts: st, ends: en, axes: ax, steps: sp }, [{ shape, dtype: x.dtype }])[0]!;
}
defineOp('Slice', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const steps = node.attrs.steps as number[];
    if (steps.some((s) => s !== 1)) {
      // A strided or reversed slice gathers constant indices along each sliced axis: scatter them back.
      const axes = node.attrs.axes as number[];
      const starts = node.attrs.starts as number[];
      let g = gy[0]!;
      for (let i = axes.length - 1; i >= 0; i--) {
        const a = axes[i]!;
        const idx = BigInt64Array.from({ length: g.shape[a]! }, (_, k) => BigInt(starts[i]! + k * steps[i]!));
        const shape = [...g.shape];
        shape[a] = x.shape[a]!;
        g = gatherBackward(g, x.graph.constant(idx, [idx.length]), a, shape);
      }
      return [g];
    }
    const pads = new Array<number>(2 * x.rank).fill(0);
    (node.attrs.axes as number[]).forEach((a, i) => {
      const s = (node.attrs.starts as number[])[i]!;
      pads[a] = s;
      pads[a + x.rank] = x.shape[a]! - s - node.outputs[0]!.shape[a]!;
    });
    return [pad(gy[0]!, pads)];
  },
  emit: (n, e) =>
    e.node(
      'Slice',
      [e.name(n.inputs[0]!), e.int64(n.attrs.starts as number[]), e.int64(n.attrs.ends as number[]), e.int64(n.attrs.axes as number[]), e.int64(n.attrs.steps as number[])],
      [e.outName(n, 0)],
    ),
});

/** ONNX pads layout: [x1_begin, x2_begin, ..., x1_end, x2_end, ...]. */
export function pad(x: Tensor, pads: readonly number[], mode: 'constant' | 'reflect' = 'constant', value = 0): Tensor {
  if (pads.length !== 2 * x.rank) throw new GraphError(`Pad: ${pads.length} pads for ${x} (need ${2 * x.rank})`);
  if (pads.every((p) => p === 0)) return x;
  const shape = x.shape.map((d, i) => d + pads[i]! + pads[i + x.rank]!);
  if (mode === 'reflect') {
    x.shape.forEach((d, i) => {
      if (pads[i]! >= d || pads[i + x.rank]! >= d || pads[i]! < 0 || pads[i + x.rank]! < 0) {
        throw new GraphError(`Pad: reflect padding ${pads[i]}/${pads[i + x.rank]} needs to be smaller than dimension ${i} (${d}) of ${x}`);
      }
    });
  }
  if (shape.some((d) => d <= 0)) throw new GraphError(`Pad: pads [${pads.join(',')}] leave nothing of ${x}`);
  return x.graph.addNode('Pad', [x], { pads: [...pads], mode, value }, [{ shape, dtype: x.dtype }])[0]!;
}
defineOp('Pad', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const pads = node.attrs.pads as number[];
    const r = x.rank;
    if (node.attrs.mode === 'constant') return [pad(gy[0]!, pads.map((p) => -p))];
    // Reflect padding is a gather along each padded axis; undo the axes in reverse order.
    let g = gy[0]!;
    for (let a = r - 1; a >= 0; a--) {
      const b = pads[a]!;
      const e = pads[a + r]!;
      if (!b && !e) continue;
      const n = x.shape[a]!;
      const idx = BigInt64Array.from({ length: n + b + e }, (_, k) => {
        const i = k - b;
        return BigInt(i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
      });
      const shape = [...g.shape];
      shape[a] = n;
      g = gatherBackward(g, x.graph.constant(idx, [idx.length]), a, shape);
    }
    return [g];
  },
  emit: (n, e) =>
    e.node('Pad', [e.name(n.inputs[0]!), e.int64(n.attrs.pads as number[]), padValue(n, e)], [e.outName(n, 0)], {
      mode: n.attrs.mode,
    }),
});

function padValue(n: Node, e: Emitter): string {
  const v = n.attrs.value as number;
  const dtype = n.inputs[0]!.dtype;
  if (dtype === 'float64') return e.double([v], []);
  if (dtype === 'int64') throw new GraphError('Pad: int64 is not padded in the engine (no CUDA kernel)');
  return e.float([v], []);
}

/**
 * How a gather's gradient is summed back when its indices are fed rather than constant: `unique` when
 * no index can repeat, otherwise the per-run sort of the indices (adjointPlan, fed beside them).
 */
export type GatherAdjoint = { unique: true } | { perm: Tensor; bounds: Tensor };

/** Gather along axis with int64 indices (out = x.shape[:axis] + idx.shape + x.shape[axis+1:]). */
export function gather(x: Tensor, indices: Tensor, axis: number, adjoint?: GatherAdjoint): Tensor {
  if (indices.dtype !== 'int64') throw new GraphError(`Gather: indices must be int64, got ${indices}`);
  const a = normAxis('Gather', axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  const plan = adjoint && 'perm' in adjoint ? [adjoint.perm, adjoint.bounds] : [];
  if (plan.length && (plan[0]!.shape[0] !== indices.size + 1 || plan[1]!.shape[0] !== x.shape[a]! + 1)) {
    throw new GraphError(`Gather: adjoint plan ${plan[0]} / ${plan[1]} does not fit ${indices.size} indices into ${x.shape[a]} rows`);
  }
  return x.graph.addNode('Gather', [x, indices, ...plan], { axis: a, unique: adjoint !== undefined && 'unique' in adjoint }, [{ shape, dtype: x.dtype }])[0]!;
}
defineOp('Gather', {
  vjp: ({ node, gy }) => {
    const [x, idx, perm, bounds] = node.inputs as [Tensor, Tensor, Tensor?, Tensor?];
    const adjoint: GatherAdjoint | undefined = perm && bounds ? { perm, bounds } : node.attrs.unique ? { unique: true } : undefined;
    return [gatherBackward(gy[0]!, idx, node.attrs.axis as number, x.shape, adjoint), null, null, null].slice(0, node.inputs.length);
  },
  emit: (n, e) => e.node('Gather', [e.name(n.inputs[0]!), e.name(n.inputs[1]!)], [e.outName(n, 0)], { axis: n.attrs.axis }),
});

/**
 * The adjoint of gather: sums gy back into zeros of xShape. ScatterND-add races in ORT's multi-threaded
 * CPU kernel and is atomic (unordered) on CUDA, so repeated indices are summed in a fixed order instead:
 * the rows sorted by destination, a float64 prefix sum, and the difference at each destination's bounds.
 */
export function gatherBackward(gy: Tensor, idx: Tensor, axis: number, xShape: Shape, adjoint?: GatherAdjoint): Tensor {
  const g = gy.graph;
  const pre = xShape.slice(0, axis);
  const post = xShape.slice(axis + 1);
  const ir = idx.rank;
  const n = xShape[axis]!;
  // gy: pre + I + post → I + pre + post, so the gathered axis comes first.
  const perm = [
    ...Array.from({ length: ir }, (_, i) => pre.length + i),
    ...pre.map((_, i) => i),
    ...post.map((_, i) => pre.length + ir + i),
  ];
  const upd = transpose(gy, perm);
  const back = [...pre.map((_, i) => i + 1), 0, ...post.map((_, i) => pre.length + 1 + i)];
  let plan = adjoint && 'perm' in adjoint ? adjoint : undefined;
  let unique = adjoint !== undefined && 'unique' in adjoint;
  if (!plan && !unique) {
    const data = g.constantData(idx);
    if (!(data instanceof BigInt64Array)) {
      throw new GraphError(`Gather: the gradient for fed indices ${idx} needs an adjoint plan (or { unique: true })`);
    }
    unique = indicesUnique(data, n);
    if (!unique) {
      const p = adjointPlan(data, n);
      plan = { perm: g.constant(p.perm, [p.perm.length]), bounds: g.constant(p.bounds, [p.bounds.length]) };
    }
  }
  if (!plan) {
    const scattered = scatterNDAdd(zeros(g, [n, ...pre, ...post]), unsqueeze(idx, [ir]), upd);
    return transpose(scattered, back);
  }
  const rows = reshape(upd, [idx.size, numel(pre) * numel(post)]);
  const sorted = gather(concat([zeros(g, [1, rows.shape[1]!]), rows], 0), plan.perm, 0);
  const sums = gather(cumsum(cast(sorted, 'float64'), 0), plan.bounds, 0);
  const seg = sub(slice(sums, [1], [n + 1], [0]), slice(sums, [0], [n], [0]));
  return transpose(reshape(cast(seg, 'float32'), [n, ...pre, ...post]), back);
}

export function scatterNDAdd(data: Tensor, indices: Tensor, updates: Tensor): Tensor {
  const k = indices.shape[indices.rank - 1]!;
  const want = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
  if (!sameShape(want, updates.shape)) throw new GraphError(`ScatterND: updates ${updates} should be ${fmt(want)}`);
  return data.graph.addNode('ScatterND', [data, indices, updates], { reduction: 'add' }, [{ shape: data.shape, dtype: data.dtype }])[0]!;
}
defineOp('ScatterND', {
  vjp: ({ gy, needs }) => {
    if (needs[2]) throw new GraphError('ScatterND: no gradient for updates');
    return [gy[0]!, null, null];
  },
});

export function gatherElements(x: Tensor, indices: Tensor, axis: number): Tensor {
  const a = normAxis('GatherElements', axis, x.rank);
  if (indices.rank !== x.rank || indices.dtype !== 'int64') throw new GraphError(`GatherElements: indices ${indices} must be int64 of rank ${x.rank}`);
  return x.graph.addNode('GatherElements', [x, indices], { axis: a }, [{ shape: indices.shape, dtype: x.dtype }])[0]!;
}
defineOp('GatherElements', {
  vjp: ({ node, gy }) => {
    const [x, idx] = node.inputs as [Tensor, Tensor];
    return [scatterElementsAdd(zeros(x.graph, x.shape), idx, gy[0]!, node.attrs.axis as number), null];
  },
});

export function scatterElementsAdd(data: Tensor, indices: Tensor, updates: Tensor, axis: number): Tensor {
  const a = normAxis('ScatterElements', axis, data.rank);
  if (!sameShape(indices.shape, updates.shape)) throw new GraphError(`ScatterElements: indices ${indices} and updates ${updates} differ`);
  return data.graph.addNode('ScatterElements', [data, indices, updates], { axis: a, reduction: 'add' }, [{ shape: data.shape, dtype: data.dtype }])[0]!;
}
defineOp('ScatterElements', {
  vjp: ({ node, gy }) => [gy[0]!, null, gatherElements(gy[0]!, node.inputs[1]!, node.attrs.axis as number)],
});
