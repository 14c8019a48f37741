import { asinPoly, div, maximum, mul, reduceSum, sqrt, sub, square, type Tensor } from './graph/index.ts';

/** Rows scaled to unit length, like F.normalize(x, dim=-1) (eps 1e-12). */
export function unitRows(x: Tensor): Tensor {
  return div(x, maximum(sqrt(reduceSum(square(x), [-1], true)), 1e-12));
}

/**
 * The VQGAN+CLIP spherical distance 2·asin(|â − b̂| / 2)² between rows of a [N,D] and b [M,D]
 * (broadcast: a [N,1,D] against b [1,M,D] gives [N,M]).
 */
export function sphericalDistance(a: Tensor, b: Tensor): Tensor {
  const diff = sub(unitRows(a), unitRows(b));
  const chord = sqrt(reduceSum(square(diff), [-1], false));
  return mul(square(asinPoly(div(chord, 2))), 2);
}
