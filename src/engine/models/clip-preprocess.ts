/**
 * CLIP image preprocessing (`clip._transform(R)`, model-spec §1.6) from an image file with sharp, and
 * the in-graph resampling that brings a decoded image to the CLIP input size.
 */
import sharp, { type Metadata } from 'sharp';
import { GraphError, linearResizeMatrix, matmul, type Tensor } from '../graph/index.ts';
import { CLIP_MEAN, CLIP_STD } from './clip.ts';

/** torchvision `Resize(size)` on an image of w×h: shorter side → size, longer side truncated, not rounded. */
export function resizedSize(width: number, height: number, size: number): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  if (short === size) return { width, height };
  const newLong = Math.floor((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `CenterCrop(size)` offsets: top = int(round((H − size)/2)), left likewise. */
export function centerCropOffsets(width: number, height: number, size: number): { left: number; top: number } {
  return { left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2) };
}

export interface ClipImage {
  /** [1, 3, size, size] CHW in [0, 1], R, G, B planes */
  data: Float32Array;
  shape: [1, 3, number, number];
  /** the file's own size, before resizing */
  source: { width: number; height: number };
}

/**
 * Loads an image file (or encoded bytes) as CLIP sees it, without the normalisation: resize the shorter
 * side to `size` (bicubic), centre crop size×size with torchvision's rounding, RGB, [0,1] CHW float32.
 * Feed the result through `ClipModel.normalize` in the graph (or `normalizeClipPixels` on the host).
 *
 * Resampling differs from OpenAI's PIL pipeline in the details: PIL's BICUBIC is a Catmull-Rom
 * (a = −0.5) filter whose support widens with the downscale factor (antialiased) and works on 8-bit
 * data with a rounding after each of its two passes. sharp's 'cubic' kernel is the same Catmull-Rom
 * spline and libvips' reduce also widens it when shrinking, but for large factors libvips first
 * box-shrinks by an integer factor and then applies the cubic reduce, with its own fixed-point
 * arithmetic. So pixels can differ from PIL's by a few 1/255 steps (more near sharp edges); the
 * embedding changes very little. To stay close to PIL we turn off JPEG shrink-on-load, ignore
 * embedded ICC profiles and EXIF orientation (PIL applies neither), and drop alpha without
 * compositing, as `convert("RGB")` does.
 */
export async function loadClipImage(input: string | Buffer | Uint8Array, size: number): Promise<ClipImage> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`CLIP input size must be a positive integer, got ${size}`);
  const label = typeof input === 'string' ? input : '<image bytes>';
  let meta: Metadata;
  try {
    meta = await sharp(input, { failOn: 'error' }).metadata();
  } catch (err) {
    throw new Error(`${label}: cannot read the image: ${(err as Error).message}`);
  }
  const { width, height } = meta;
  if (!width || !height) throw new Error(`${label}: image has no size`);
  const resized = resizedSize(width, height, size);
  const { left, top } = centerCropOffsets(resized.width, resized.height, size);
  let pipeline = sharp(input, { failOn: 'error', ignoreIcc: true, autoOrient: false });
  if (resized.width !== width || resized.height !== height) {
    pipeline = pipeline.resize({ width: resized.width, height: resized.height, fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: false });
  }
  const { data, info } = await pipeline
    .extract({ left, top, width: size, height: size })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3) {
    throw new Error(`${label}: expected ${size}×${size}×3 pixels after preprocessing, got ${info.width}×${info.height}×${info.channels}`);
  }
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = data[i * 3]! / 255;
    out[plane + i] = data[i * 3 + 1]! / 255;
    out[2 * plane + i] = data[i * 3 + 2]! / 255;
  }
  return { data: out, shape: [1, 3, size, size], source: { width, height } };
}

/** (x − mean) / std per channel on the host, for CHW (or NCHW) pixels in [0, 1]; same constants as ClipModel.normalize. */
export function normalizeClipPixels(x: Float32Array, size: number): Float32Array {
  const plane = size * size;
  if (x.length % (3 * plane)) throw new RangeError(`normalizeClipPixels: ${x.length} values are not whole 3×${size}×${size} images`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / plane) % 3;
    out[i] = (x[i]! - CLIP_MEAN[c]!) / CLIP_STD[c]!;
  }
  return out;
}

/**
 * Row i averages input samples [floor(i·n/out), ceil((i+1)·n/out)) of a span of n samples starting at
 * `offset` within `inN` (torch adaptive_avg_pool semantics).
 */
export function areaResizeMatrix(inN: number, outN: number, offset = 0, n = inN - offset): Float32Array {
  const m = new Float32Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    const start = Math.floor((i * n) / outN);
    const end = Math.ceil(((i + 1) * n) / outN);
    for (let j = start; j < end; j++) m[i * inN + offset + j] = 1 / (end - start);
  }
  return m;
}

function resampleMatrix(inN: number, outN: number, offset: number, n: number): Float32Array {
  if (n >= outN) return areaResizeMatrix(inN, outN, offset, n);
  const inner = linearResizeMatrix(n, outN, false);
  const m = new Float32Array(outN * inN);
  for (let i = 0; i < outN; i++) for (let j = 0; j < n; j++) m[i * inN + offset + j] = inner[i * n + j]!;
  return m;
}

/**
 * A full-frame cutout of NCHW images at size×size, in the graph and differentiable: the centred
 * min(H,W) square (the whole image when square), resampled with an area average when shrinking (as
 * VQGAN+CLIP's cutouts do with adaptive_avg_pool2d) or bilinearly (half-pixel centres) when growing.
 * Returns x itself when it already has the size.
 */
export function fullFrameCutout(x: Tensor, size: number): Tensor {
  if (x.rank !== 4) throw new GraphError(`fullFrameCutout: expects NCHW, got ${x}`);
  const [, , h, w] = x.shape as [number, number, number, number];
  if (h === size && w === size) return x;
  const side = Math.min(h, w);
  const top = Math.floor((h - side) / 2);
  const left = Math.floor((w - side) / 2);
  const g = x.graph;
  const rows = g.constant(resampleMatrix(h, size, top, side), [size, h], 'cutout_rows');
  const colsT = g.constant(transpose2d(resampleMatrix(w, size, left, side), size, w), [w, size], 'cutout_cols_t');
  return matmul(matmul(rows, x), colsT);
}

function transpose2d(m: Float32Array, r: number, c: number): Float32Array {
  const t = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = m[i * c + j]!;
  return t;
}
