/**
 * The host computations the graph replaced, kept as test references: the warp's bilinear taps
 * (src/engine/generate/warp.ts computed them in JS and fed them until the graph did it).
 */
import type { Mat3 } from '../../../src/engine/generate/warp.ts';

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
