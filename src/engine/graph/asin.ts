import { add, greater, less, mul, neg, sqrt, sub, where } from './ops/index.ts';
import type { Tensor } from './graph.ts';

// Cephes asinf: asin(a) = a + a·z·P(z), z = a², on [0, 0.5]; asin(a) = π/2 − 2·asin(√((1 − a)/2)) above.
const P = [1.6666752422e-1, 7.4953002686e-2, 4.5470025998e-2, 2.4181311049e-2, 4.2163199048e-2];

/**
 * asin from ops every execution provider has a kernel for (ORT's CUDA provider has no Asin), accurate to
 * float32 rounding. Odd symmetry is taken with Where rather than Abs/Sign so the gradient at 0 is 1.
 */
export function asinPoly(x: Tensor): Tensor {
  const g = x.graph;
  const negative = less(x, 0);
  const a = where(negative, neg(x), x);
  const big = greater(a, 0.5);
  // The unused branch gets a harmless argument: √0 would send NaN into the gradient through Where.
  const half = where(big, mul(sub(1, a), 0.5), g.scalar(0.25));
  const s = where(big, sqrt(half), a);
  const z = where(big, half, mul(a, a));
  let poly: Tensor = mul(z, P[4]!);
  for (let i = 3; i >= 0; i--) poly = mul(add(poly, P[i]!), z);
  const p = add(mul(poly, s), s);
  const r = where(big, sub(Math.PI / 2, mul(p, 2)), p);
  return where(negative, neg(r), r);
}
