/**
 * Ops that pick or place elements by index: slice, pad, gather, scatter. Strided slices and reflect
 * padding are index maps, so their gradients are the gather adjoint (gatherBackward), which in turn
 * slices: they share this file.
 */
import { GraphError, fmt, numel, sameShape, type Graph, type Node, type Shape, type Tensor } from '../graph.ts';
import { normAxis } from './axes.ts';
import { expand, reduceSum, zeros } from './broadcast.ts';
import { concat } from './concat.ts';
import { add, greaterOrEqual, mul, not, sub } from './elementwise.ts';
import { cast, reshape, transpose, unsqueeze } from './movement.ts';
import { adjointPlan, cumsum, indicesUnique, topK } from './scan.ts';
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

/** A gather on fed indices that never repeat may take `{ unique: true }`: its gradient is a plain scatter. */
export type GatherAdjoint = { unique: true };

/** Gather along axis with int64 indices (out = x.shape[:axis] + idx.shape + x.shape[axis+1:]). */
export function gather(x: Tensor, indices: Tensor, axis: number, adjoint?: GatherAdjoint): Tensor {
  if (indices.dtype !== 'int64') throw new GraphError(`Gather: indices must be int64, got ${indices}`);
  const a = normAxis('Gather', axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.graph.addNode('Gather', [x, indices], { axis: a, unique: adjoint?.unique ?? false }, [{ shape, dtype: x.dtype }])[0]!;
}

/**
 * Rows of x at keys + each offset: out[k] = x[keys + offsets[k]], of shape [K, ...keys.shape,
 * ...x.shape[1:]]. For indices computed in the graph (the warp's bilinear taps: one key per sample, the
 * four corners at fixed offsets from it); its gradient sorts the keys, in the graph, once for all K
 * (gatherTapsBackward). The keys (flattened) split into G equal runs, each sorted apart (the sorts run
 * in parallel): with `shared`, every run addresses all rows; otherwise the g-th run and its taps stay
 * in the g-th of G equal blocks of rows (a warp of one source per cutout).
 */
export function gatherTaps(x: Tensor, keys: Tensor, offsets: readonly number[], groups = 1, shared = false): Tensor {
  if (keys.dtype !== 'int64') throw new GraphError(`Gather: keys must be int64, got ${keys}`);
  if (keys.size % groups || (!shared && x.shape[0]! % groups)) throw new GraphError(`Gather: ${groups} groups do not divide keys ${keys} and rows of ${x}`);
  const g = x.graph;
  const idx = add(unsqueeze(keys, [0]), g.constant(BigInt64Array.from(offsets, (o) => BigInt(o)), [offsets.length, ...keys.shape.map(() => 1)], 'gather_tap_offsets'));
  const shape = [...idx.shape, ...x.shape.slice(1)];
  return g.addNode('Gather', [x, idx, keys], { axis: 0, unique: false, offsets: [...offsets], groups, shared }, [{ shape, dtype: x.dtype }])[0]!;
}

defineOp('Gather', {
  vjp: ({ node, gy }) => {
    const [x, idx, keys] = node.inputs as [Tensor, Tensor, Tensor?];
    if (keys) {
      const { offsets, groups, shared } = node.attrs as { offsets: number[]; groups: number; shared: boolean };
      return [gatherTapsBackward(gy[0]!, keys, offsets, x.shape, groups, shared), null, null];
    }
    return [gatherBackward(gy[0]!, idx, node.attrs.axis as number, x.shape, node.attrs.unique ? { unique: true } : undefined), null];
  },
  emit: (n, e) => e.node('Gather', [e.name(n.inputs[0]!), e.name(n.inputs[1]!)], [e.outName(n, 0)], { axis: n.attrs.axis }),
});

/**
 * The adjoint of gather: sums gy back into zeros of xShape. ScatterND-add races in ORT's multi-threaded
 * CPU kernel and is atomic (unordered) on CUDA, so repeated indices are summed in a fixed order instead.
 * The indices here are constants (strided slices, reflect pads, pooling windows): the build sorts them
 * (adjointPlan); the graph gathers the rows in that order, takes a float64 prefix sum and the difference
 * at each destination's bounds.
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
  let unique = adjoint?.unique ?? false;
  let plan: { perm: Tensor; bounds: Tensor } | undefined;
  if (!unique) {
    const data = g.constantData(idx);
    if (!(data instanceof BigInt64Array)) {
      throw new GraphError(`Gather: the gradient for fed indices ${idx} needs constant indices, { unique: true } or gatherTaps`);
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

/**
 * The adjoint of gatherTaps, deterministic at any thread count and on CUDA, with no scatter. Per group:
 * one sort of the samples merged with one marker per destination row (marker d sorts after every sample
 * of a smaller key and before those of key d); a float64 prefix sum of the samples' rows in sorted order;
 * at each marker, the prefix of the samples before it (its position less its rank among the markers).
 * Consecutive markers' prefixes differ by one key's sum. All K index arrays are shifts of the keys, so
 * they share the sort and the marker positions: each tap's prefixes are shifted by its offset and
 * added, and one difference gives every row's sum. Shared groups' sums are added last.
 */
export function gatherTapsBackward(gy: Tensor, keys: Tensor, offsets: readonly number[], xShape: Shape, groups = 1, shared = false): Tensor {
  const g = gy.graph;
  const G = groups;
  const R = shared ? xShape[0]! : xShape[0]! / G;
  const c = numel(xShape.slice(1));
  const K = offsets.length;
  const m = keys.size / G;
  const L = m + R + 1;
  const perGroup = (step: number, plus = 0) => g.constant(BigInt64Array.from({ length: G }, (_, i) => BigInt(i * step + plus)), [G, 1]);
  // keys local to their group, shifted so that the smallest offset is 0
  const low = Math.min(...offsets);
  const local = add(reshape(keys, [G, m]), G === 1 || shared ? low : perGroup(-R, low));
  // Unique sort values (the sort then does not depend on how ties are broken): 2(key·m + i) + 1 for
  // sample i, 2·d·m for the marker of row d; markers 0..R, the last after every sample.
  const samples = add(mul(add(mul(local, m), arange(g, m, 1)), 2), 1);
  const markers = expand(unsqueeze(arange(g, R + 1, 2 * m), [0]), [G, R + 1]);
  const order = topK(concat([samples, markers], 1), L, 1).indices;
  const isMarker = reshape(greaterOrEqual(order, m), [G * L]);
  // each group's rows (per tap) with a zero row after them; the sorted samples, each group led by its zero row
  const rows = reshape(concat([reshape(gy, [K, G, m, c]), zeros(g, [K, G, 1, c])], 2), [K, G * (m + 1), c]);
  const picked = compress(reshape(G === 1 ? order : add(order, perGroup(m + 1)), [G * L]), not(isMarker), 0, G * m);
  const sequence = concat([perGroup(m + 1, m), reshape(picked, [G, m])], 1);
  const sorted = cast(gather(rows, reshape(sequence, [G * (m + 1)]), 1), 'float64');
  const prefix = reshape(cumsum(reshape(sorted, [K, G, m + 1, c]), 2), [K, G * (m + 1), c]);
  const position = compress(reshape(expand(unsqueeze(arange(g, L, 1), [0]), [G, L]), [G * L]), isMarker, 0, G * (R + 1));
  const before = sub(reshape(position, [G, R + 1]), unsqueeze(arange(g, R + 1, 1), [0]));
  const atMarkers = gather(prefix, reshape(G === 1 ? before : add(before, perGroup(m + 1)), [G * (R + 1)]), 1);
  const prefixes = reshape(atMarkers, [K, G, R + 1, c]);
  let total: Tensor | null = null;
  offsets.forEach((o, k) => {
    const shift = o - low;
    const part = slice(prefixes, [k, 0], [k + 1, R + 1 - shift], [0, 2]);
    const shifted = pad(part, [0, 0, shift, 0, 0, 0, 0, 0]);
    total = total ? add(total, shifted) : shifted;
  });
  const sums = sub(slice(total!, [1], [R + 1], [2]), slice(total!, [0], [R], [2]));
  return reshape(cast(shared && G > 1 ? reduceSum(sums, [1], false) : sums, 'float32'), xShape);
}

/** 0, step, 2·step, … (len values) as int64, made in the graph rather than stored. */
function arange(g: Graph, len: number, step: number): Tensor {
  return sub(cumsum(expand(g.scalar(step, 'int64'), [len]), 0), step);
}

/** The slices of x along axis where condition is true; how many there are must be known at build time. */
export function compress(x: Tensor, condition: Tensor, axis: number, count: number): Tensor {
  const a = normAxis('Compress', axis, x.rank);
  if (condition.dtype !== 'bool' || condition.rank !== 1 || condition.shape[0] !== x.shape[a]) {
    throw new GraphError(`Compress: condition ${condition} does not fit axis ${a} of ${x}`);
  }
  const shape = x.shape.map((d, i) => (i === a ? count : d));
  return x.graph.addNode('Compress', [x, condition], { axis: a }, [{ shape, dtype: x.dtype }])[0]!;
}
defineOp('Compress', {});

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
