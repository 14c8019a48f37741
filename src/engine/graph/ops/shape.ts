import { GraphError, fmt, numel, sameShape, type DType, type Shape, type Tensor } from '../graph.ts';
import { add, mul, sub } from './elementwise.ts';
import { adjointPlan, cumsum, indicesUnique } from './scan.ts';
import { matmul } from './linalg.ts';
import { reduceSum } from './reduce.ts';
import { unbroadcast } from './broadcast.ts';
import { defineOp } from './registry.ts';

function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

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

const transposedConstants = new WeakMap<Tensor, Map<string, Tensor>>();

/** Transposes of weights are done once here rather than left for ONNX Runtime to fold (or not). */
function transposedConstant(x: Tensor, data: Float32Array, perm: readonly number[], shape: number[]): Tensor {
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
defineOp('Transpose', {
  vjp: ({ node, gy }) => {
    const perm = node.attrs.perm as number[];
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(gy[0]!, inv)];
  },
});

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

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  return x.graph.addNode('Cast', [x], { to }, [{ shape: x.shape, dtype: to }])[0]!;
}
const onnxType: Record<DType, number> = { float32: 1, float64: 11, int64: 7, bool: 9 };
defineOp('Cast', {
  vjp: ({ node, gy }) => [node.inputs[0]!.dtype === 'float32' ? cast(gy[0]!, 'float32') : null],
  emit: (n, e) => e.node('Cast', [e.name(n.inputs[0]!)], [e.outName(n, 0)], { to: onnxType[n.attrs.to as DType] }),
});

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
    e.node('Pad', [e.name(n.inputs[0]!), e.int64(n.attrs.pads as number[]), e.float([n.attrs.value as number], [])], [e.outName(n, 0)], {
      mode: n.attrs.mode,
    }),
});

/** Nearest-neighbour upsampling by an integer factor (torch interpolate mode='nearest'). */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  if (x.rank !== 4 || !Number.isInteger(factor) || factor < 1) throw new GraphError(`Resize: nearest needs NCHW and an integer factor, got ${x} ×${factor}`);
  const shape = [x.shape[0]!, x.shape[1]!, x.shape[2]! * factor, x.shape[3]! * factor];
  return x.graph.addNode('Resize', [x], { mode: 'nearest', factor }, [{ shape, dtype: x.dtype }])[0]!;
}

/** Bilinear resize of NCHW to (outH, outW); alignCorners as in torch. */
export function resizeLinear(x: Tensor, outH: number, outW: number, alignCorners = false): Tensor {
  if (x.rank !== 4) throw new GraphError(`Resize: linear needs NCHW, got ${x}`);
  const shape = [x.shape[0]!, x.shape[1]!, outH, outW];
  return x.graph.addNode('Resize', [x], { mode: 'linear', alignCorners }, [{ shape, dtype: x.dtype }])[0]!;
}

/** Row i of the [out, in] matrix that 1-D linear resampling applies (ONNX/torch linear semantics). */
export function linearResizeMatrix(inN: number, outN: number, alignCorners: boolean): Float32Array {
  const m = new Float32Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    let src = alignCorners ? (outN === 1 ? 0 : (i * (inN - 1)) / (outN - 1)) : ((i + 0.5) * inN) / outN - 0.5;
    src = Math.min(Math.max(src, 0), inN - 1);
    const i0 = Math.floor(src);
    const i1 = Math.min(i0 + 1, inN - 1);
    const w = src - i0;
    m[i * inN + i0]! += 1 - w;
    m[i * inN + i1]! += w;
  }
  return m;
}

defineOp('Resize', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (node.attrs.mode === 'nearest') {
      const f = node.attrs.factor as number;
      return [reshape(reduceSum(reshape(gy[0]!, [n, c, h, f, w, f]), [3, 5], false), x.shape)];
    }
    const [oh, ow] = node.outputs[0]!.shape.slice(2) as [number, number];
    const ac = node.attrs.alignCorners as boolean;
    const ryT = transpose(x.graph.constant(linearResizeMatrix(h, oh, ac), [oh, h]), [1, 0]);
    const rx = x.graph.constant(linearResizeMatrix(w, ow, ac), [ow, w]);
    return [matmul(ryT, matmul(gy[0]!, rx))];
  },
  emit: (n, e) => {
    const x = n.inputs[0]!;
    const out = n.outputs[0]!;
    if (n.attrs.mode === 'nearest') {
      const f = n.attrs.factor as number;
      e.node('Resize', [e.name(x), '', e.float([1, 1, f, f])], [e.outName(n, 0)], {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
    } else {
      e.node('Resize', [e.name(x), '', '', e.int64([...out.shape])], [e.outName(n, 0)], {
        mode: 'linear',
        coordinate_transformation_mode: n.attrs.alignCorners ? 'align_corners' : 'half_pixel',
      });
    }
  },
});

