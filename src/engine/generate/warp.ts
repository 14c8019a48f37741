import type { Prng } from './prng.ts';

/** 3×3 row-major homogeneous matrices acting on pixel coordinates (x, y, 1). */
export type Mat3 = number[];

export const I3: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function mul3(a: Mat3, b: Mat3): Mat3 {
  const o = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) o[i * 3 + j]! += a[i * 3 + k]! * b[k * 3 + j]!;
  return o;
}

export function inv3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m as [number, number, number, number, number, number, number, number, number];
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (Math.abs(det) < 1e-12) return I3;
  return [A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d].map((v) => v / det);
}

const deg = (d: number) => (d * Math.PI) / 180;

/** Rotation/translation/shear about the image centre, kornia RandomAffine style (source → output). */
export function affineAbout(size: number, angleDeg: number, tx: number, ty: number, shearX = 0, shearY = 0, scale = 1): Mat3 {
  const c = (size - 1) / 2;
  const a = deg(angleDeg);
  const rot: Mat3 = [scale * Math.cos(a), -scale * Math.sin(a), 0, scale * Math.sin(a), scale * Math.cos(a), 0, 0, 0, 1];
  const shear: Mat3 = [1, Math.tan(deg(shearX)), 0, Math.tan(deg(shearY)), 1, 0, 0, 0, 1];
  return mul3([1, 0, c + tx, 0, 1, c + ty, 0, 0, 1], mul3(rot, mul3(shear, [1, 0, -c, 0, 1, -c, 0, 0, 1])));
}

/** Homography taking four source points to four destination points (direct linear solve). */
export function homography(src: [number, number][], dst: [number, number][]): Mat3 {
  const A: number[][] = [];
  for (let k = 0; k < 4; k++) {
    const [x, y] = src[k]!;
    const [u, v] = dst[k]!;
    A.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    A.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gaussian elimination with partial pivoting on the 8×9 augmented system.
  for (let col = 0; col < 8; col++) {
    let p = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(A[r]![col]!) > Math.abs(A[p]![col]!)) p = r;
    [A[col], A[p]] = [A[p]!, A[col]!];
    const piv = A[col]![col]!;
    if (Math.abs(piv) < 1e-12) return I3;
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const f = A[r]![col]! / piv;
      for (let c = col; c < 9; c++) A[r]![c]! -= f * A[col]![c]!;
    }
  }
  const h = A.map((row, i) => row[8]! / row[i]!);
  return [...h, 1];
}

/** kornia RandomPerspective: each corner moves inward by up to distortion·size/2 (source → output). */
export function randomPerspective(rng: Prng, size: number, distortion: number): Mat3 {
  const m = size - 1;
  const d = (distortion * size) / 2;
  const src: [number, number][] = [
    [0, 0],
    [m, 0],
    [m, m],
    [0, m],
  ];
  const sign: [number, number][] = [
    [1, 1],
    [-1, 1],
    [-1, -1],
    [1, -1],
  ];
  const dst = src.map(([x, y], k) => [x + sign[k]![0] * rng.uniform() * d, y + sign[k]![1] * rng.uniform() * d] as [number, number]);
  return homography(src, dst);
}
