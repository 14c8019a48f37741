/**
 * The host computations the graph replaced, kept as test references: the warp's bilinear taps
 * (src/engine/generate/warp.ts computed them in JS and fed them until the graph did it) and the
 * erasing masks (fed until the graph built them from boxes).
 */
import type { Mat3 } from '../../../src/engine/generate/warp.ts';
import type { Prng } from '../../../src/engine/generate/prng.ts';

/**
 * Bilinear sampling taps of a warp with zero padding: for each output pixel p of image c, four source
 * indices (into the flattened [srcImages·size·size] pixels), weights and whether the tap is inside,
 * laid out [4, n·size²].
 */
export function bilinearTaps(outToSrc: readonly Mat3[], size: number, sourceIndex: (c: number) => number) {
  const P = size * size;
  const N = outToSrc.length * P;
  const idx = new Int32Array(4 * N);
  const w = new Float32Array(4 * N);
  const inside = new Uint8Array(4 * N);
  for (let c = 0; c < outToSrc.length; c++) {
    const m = outToSrc[c]!;
    const base = sourceIndex(c) * P;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const zz = m[6]! * x + m[7]! * y + m[8]!;
        const sx = (m[0]! * x + m[1]! * y + m[2]!) / zz;
        const sy = (m[3]! * x + m[4]! * y + m[5]!) / zz;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const o = c * P + y * size + x;
        for (let k = 0; k < 4; k++) {
          const tx = x0 + (k & 1);
          const ty = y0 + (k >> 1);
          const tw = (k & 1 ? fx : 1 - fx) * (k >> 1 ? fy : 1 - fy);
          const ins = tx >= 0 && ty >= 0 && tx < size && ty < size && zz > 0;
          idx[k * N + o] = ins ? base + ty * size + tx : base;
          w[k * N + o] = ins ? tw : 0;
          inside[k * N + o] = ins ? 1 : 0;
        }
      }
    }
  }
  return { idx, w, inside };
}

/** kornia RandomErasing masks as they were fed: 0 inside the erased box, [cutn, s, s]. */
export function eraseMasks(rng: Prng, cutn: number, s: number): Float32Array {
  const out = new Float32Array(cutn * s * s).fill(1);
  for (let c = 0; c < cutn; c++) {
    if (!rng.bernoulli(0.7)) continue;
    const area = rng.range(0.1, 0.4) * s * s;
    const ratio = Math.exp(rng.range(Math.log(0.3), Math.log(3.3)));
    const h = Math.min(s, Math.round(Math.sqrt(area * ratio)));
    const w = Math.min(s, Math.round(Math.sqrt(area / ratio)));
    const y0 = rng.int(s - h + 1);
    const x0 = rng.int(s - w + 1);
    for (let y = y0; y < y0 + h; y++) out.fill(0, c * s * s + y * s + x0, c * s * s + y * s + x0 + w);
  }
  return out;
}
