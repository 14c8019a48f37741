/**
 * Gaussian noise made in the graph from a small fed seed, instead of fed: a counter-based hash in int64
 * Mul/Add/Div/Sub only (bit ops have no CUDA kernel), then Box–Muller. The seed comes from the job's
 * PRNG each step, so a seed still reproduces a picture and a checkpoint still resumes it.
 */
import { add, cast, concat, cos, cumsum, div, expand, log, mul, reshape, sin, slice, sqrt, sub, type Graph, type Shape, type Tensor } from '../graph/index.ts';
import type { Prng } from './prng.ts';

// Two primes below 2^31: every h stays below 2^31, so h·h < 2^62 never overflows int64. Alternating the
// modulus keeps the output from being a polynomial in the counter modulo one prime.
const MODULI = [2147483647, 2147483629] as const;
const ROUND_CONSTANTS = [0x2545f491, 0x4f6cdd1d, 0x1b873593] as const;

/** A noise seed [s1, s2]: s1 in [0, M), s2 in [1, M) (the counters' multiplier, never 0). */
export function drawNoiseSeed(rng: Prng): BigInt64Array {
  const m = MODULI[0];
  return BigInt64Array.of(BigInt(rng.int(m)), BigInt(1 + rng.int(m - 1)));
}

const mod = (x: Tensor, m: number) => sub(x, mul(div(x, m), m)); // x ≥ 0: int64 Div truncates = floors

/**
 * Uniforms in (0, 1), float64, one per counter: h = (counter·s2 + s1) mod M, then rounds of
 * h = (h² + c) mod M' (squaring mixes; an affine map alone would leave consecutive counters an
 * arithmetic progression), u = (h + ½) / M'.
 */
export function hashUniform(counters: Tensor, seed: Tensor): Tensor {
  const s1 = slice(seed, [0], [1]);
  const s2 = slice(seed, [1], [2]);
  let h = mod(add(mul(counters, s2), s1), MODULI[0]);
  ROUND_CONSTANTS.forEach((c, r) => {
    h = mod(add(mul(h, h), c), MODULI[(r + 1) % 2]);
  });
  const last = MODULI[ROUND_CONSTANTS.length % 2];
  return div(add(cast(h, 'float64'), 0.5), last);
}

/** N(0, 1) noise of the given shape, float32, a function of the seed (int64 [2]) only. */
export function hashedNormal(g: Graph, seed: Tensor, shape: Shape): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const half = Math.ceil(n / 2);
  // pair j uses counters 2j and 2j + 1 and gives two values (cos and sin)
  const j = sub(cumsum(expand(g.scalar(2, 'int64'), [half]), 0), 2);
  const u1 = hashUniform(j, seed);
  const u2 = cast(hashUniform(add(j, 1), seed), 'float32');
  const r = cast(sqrt(mul(log(u1), -2)), 'float32');
  const theta = mul(u2, 2 * Math.PI);
  const both = concat([mul(r, cos(theta)), mul(r, sin(theta))], 0);
  return reshape(2 * half === n ? both : slice(both, [0], [n]), shape);
}
