/**
 * The cutout sampling of big-sleep and deep-daze: square crops of random size at random offsets, each
 * resized to the CLIP input (F.interpolate, nearest or bilinear without align_corners), no augments.
 * They reuse the crop-and-resize matrix inputs of the 'original' / 'updated' methods (cut_ry, cut_rxt).
 *
 *   big-sleep: size = int(side · clip(N(0.8, 0.3), 0.5, 0.95)), offsets uniform in [0, side − size]
 *   deep-daze: size uniform integer in [lower · side, upper · side) (defaults 0.1, 1.0), or
 *              N(gaussMean, gaussStd) · side, redrawn uniformly in [lower, upper] when outside;
 *              offsets uniform in [0, side − size)
 */
import type { Prng } from './prng.ts';

export type CropSampling = 'bigsleep' | 'deepdaze';

export interface CropOptions {
  /** resize mode of the cutouts (big-sleep: nearest unless --bilinear; deep-daze: bilinear) */
  bilinear?: boolean;
  /** deep-daze's lower_bound_cutout / upper_bound_cutout (fractions of the side) */
  lower?: number;
  upper?: number;
  /** deep-daze's gauss_sampling: sizes from N(mean, std) of the side */
  gauss?: { mean: number; std: number };
}

/** Interpolation matrix [out, size] of F.interpolate on one axis (nearest, or bilinear with align_corners false). */
export function interpolateMatrix(size: number, out: number, bilinear: boolean): Float64Array {
  const m = new Float64Array(out * size);
  const scale = size / out;
  for (let i = 0; i < out; i++) {
    if (!bilinear) {
      m[i * size + Math.min(size - 1, Math.floor(i * scale))] = 1;
      continue;
    }
    const src = Math.max(0, (i + 0.5) * scale - 0.5);
    const i0 = Math.min(size - 1, Math.floor(src));
    const i1 = Math.min(size - 1, i0 + 1);
    const l = src - i0;
    m[i * size + i0] += 1 - l;
    m[i * size + i1] += l;
  }
  return m;
}

/** The crop sizes of one step, in pixels. */
export function cropSizes(rng: Prng, method: CropSampling, cutn: number, side: number, o: CropOptions): number[] {
  const sizes: number[] = [];
  const lower = o.lower ?? 0.1;
  const upper = o.upper ?? 1;
  for (let c = 0; c < cutn; c++) {
    let size: number;
    if (method === 'bigsleep') {
      size = Math.floor(side * Math.min(0.95, Math.max(0.5, 0.8 + 0.3 * rng.normal())));
    } else if (o.gauss) {
      let f = o.gauss.mean + o.gauss.std * rng.normal();
      if (f < lower || f > upper) f = rng.range(lower, upper);
      size = Math.floor(f * side);
    } else {
      const lo = Math.floor(lower * side);
      const hi = Math.floor(upper * side);
      size = lo + rng.int(Math.max(1, hi - lo));
    }
    sizes.push(Math.max(1, Math.min(side, size)));
  }
  return sizes;
}

/**
 * Fills the crop-then-resize matrices: ry [cutn, 1, s, H] and rxT [cutn, 1, W, s] so that
 * ry · img · rxT is each cutout at s × s.
 */
export function sampleCrops(rng: Prng, method: CropSampling, cutn: number, s: number, width: number, height: number, o: CropOptions): { cut_ry: Float32Array; cut_rxt: Float32Array } {
  const side = Math.min(width, height);
  const ry = new Float32Array(cutn * s * height);
  const rxT = new Float32Array(cutn * width * s);
  const bilinear = o.bilinear ?? method === 'deepdaze';
  for (const [c, size] of cropSizes(rng, method, cutn, side, o).entries()) {
    // big-sleep's random.randint is inclusive of side − size; deep-daze's torch.randint is not
    const span = method === 'bigsleep' ? side - size + 1 : Math.max(1, side - size);
    const oy = rng.int(span + height - side);
    const ox = rng.int(span + width - side);
    const m = interpolateMatrix(size, s, bilinear);
    for (let i = 0; i < s; i++) {
      for (let k = 0; k < size; k++) {
        const v = m[i * size + k]!;
        if (!v) continue;
        ry[c * s * height + i * height + oy + k] = v;
        rxT[c * width * s + (ox + k) * s + i] = v;
      }
    }
  }
  return { cut_ry: ry, cut_rxt: rxT };
}
