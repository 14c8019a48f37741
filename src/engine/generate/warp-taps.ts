/**
 * The warp augments in the graph: each cutout's output→source homography is fed (9 numbers), and the
 * bilinear taps (which source pixels, which weights) are computed from it in float64, in the same
 * operations and order as JS numbers would, so only the matrices cross from the host each step.
 */
import {
  add,
  and,
  cast,
  concat,
  div,
  floor,
  gatherTaps,
  greater,
  less,
  mul,
  pad,
  reduceSum,
  reshape,
  slice,
  sub,
  transpose,
  unsqueeze,
  where,
  type Graph,
  type Tensor,
} from '../graph/index.ts';

/** The zero border around each source: two pixels, so that both taps of a sample outside fall in it. */
const BORDER = 2;

/**
 * Bilinear taps of out→src matrices mats [cutn, 9] (float32, row-major, acting on (x, y, 1)) for
 * size × size outputs sampling zero-padded size × size sources: source c of cutout c, or source 0 for
 * all when `shared`. Sources are indexed with a zero border of BORDER pixels, (size+4)² pixels each, so
 * the four corners of a sample are key + [0, 1, size+4, size+5] for one key per sample. A sample none
 * of whose corners is inside (or behind the camera, or at a NaN or infinite position) moves to
 * (−2, −2), whose corners all lie in the border: no weight needs masking and every key is in range.
 * Inside corners have the host's index and weight (test/engine/generate/warp-reference.ts).
 * Returns keys int64 [cutn·size²] and weights float32 [4, cutn·size²] (corners (x0,y0), (x0+1,y0),
 * (x0,y0+1), (x0+1,y0+1)).
 */
export function warpTaps(g: Graph, mats: Tensor, size: number, shared: boolean): { keys: Tensor; weights: Tensor; offsets: number[] } {
  const cutn = mats.shape[0]!;
  const P = size * size;
  const range = Float64Array.from({ length: size }, (_, i) => i);
  const X = g.constant(range, [1, 1, size], `warp_grid_x_${size}`);
  const Y = g.constant(range, [1, size, 1], `warp_grid_y_${size}`);
  const m = reshape(cast(mats, 'float64'), [cutn, 9, 1, 1]);
  const at = (k: number) => reshape(slice(m, [k], [k + 1], [1]), [cutn, 1, 1]);
  const row = (k: number) => add(add(mul(at(k), X), mul(at(k + 1), Y)), at(k + 2));
  const zz = row(6);
  // −2 < v < size + 1 holds wherever a corner is inside (−1 ≤ v < size) and keeps x0, y0 in [−2, size];
  // the comparisons are false for NaN
  const near = (v: Tensor) => and(greater(v, -BORDER), less(v, size + BORDER - 1));
  const [px, py] = [div(row(0), zz), div(row(3), zz)];
  const keep = and(greater(zz, 0), and(near(px), near(py)));
  const sx = where(keep, px, -BORDER);
  const sy = where(keep, py, -BORDER);
  const x0 = floor(sx);
  const y0 = floor(sy);
  const fx = sub(sx, x0);
  const fy = sub(sy, y0);
  const wx = [sub(1, fx), fx];
  const wy = [sub(1, fy), fy];
  const weights = concat(
    [0, 1, 2, 3].map((k) => reshape(cast(mul(wx[k & 1]!, wy[k >> 1]!), 'float32'), [1, cutn * P])),
    0,
  );
  const S = size + 2 * BORDER;
  let key = add(mul(add(y0, BORDER), S), add(x0, BORDER));
  if (!shared) key = add(key, g.constant(Float64Array.from({ length: cutn }, (_, c) => c * S * S), [cutn, 1, 1], `warp_source_base_${cutn}_${size}`));
  return { keys: reshape(cast(key, 'int64'), [cutn * P]), weights, offsets: [0, 1, S, S + 1] };
}

/** How many runs a shared source's taps are sorted in for the gradient: the sorts run in parallel. */
const SHARED_SORT_GROUPS = 2;

/** Warps x [sources, 3, size, size] by mats [cutn, 9] (one source per cutout, or one for all): [cutn, 3, size, size]. */
export function warpCutouts(x: Tensor, mats: Tensor): Tensor {
  const [sources, channels, size] = x.shape as [number, number, number];
  const cutn = mats.shape[0]!;
  const shared = sources === 1;
  const { keys, weights, offsets } = warpTaps(x.graph, mats, size, shared);
  const S = size + 2 * BORDER;
  const b = BORDER;
  const padded = reshape(transpose(pad(x, [0, 0, b, b, 0, 0, b, b]), [0, 2, 3, 1]), [sources * S * S, channels]);
  const groups = shared ? (keys.size % SHARED_SORT_GROUPS ? 1 : SHARED_SORT_GROUPS) : sources;
  // the weights spread over the channels once (a Concat: ORT's Expand and broadcasting Mul go value by
  // value along a last axis of 3, several times slower); the gradient's product reuses them
  const column = unsqueeze(weights, [2]);
  const spread = concat(Array.from({ length: channels }, () => column), 2);
  const sampled = reduceSum(mul(gatherTaps(padded, keys, offsets, groups, shared), spread), [0], false);
  return transpose(reshape(sampled, [cutn, size, size, channels]), [0, 3, 1, 2]);
}
