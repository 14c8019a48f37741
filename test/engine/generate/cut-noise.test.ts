/**
 * The cutouts' noise is made in the graph from a fed seed (cut-noise.ts): it must look like N(0, 1)
 * (moments, the CDF, no dependence between neighbouring counters or between the cos/sin pair of one
 * Box–Muller draw), differ between seeds without being a shifted copy, and be the same bits at any
 * thread count.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Graph, Session, serialize } from '../../../src/engine/graph/index.ts';
import { drawNoiseSeed, hashedNormal } from '../../../src/engine/generate/cut-noise.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';

const N = 1_000_001; // odd: the last Box–Muller pair is cut in half

/** Φ(z), Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Pearson's χ² of counts against equal expected counts. */
function chiSquare(counts: ArrayLike<number>, total: number): number {
  const e = total / counts.length;
  let chi = 0;
  for (let i = 0; i < counts.length; i++) chi += (counts[i]! - e) ** 2 / e;
  return chi;
}

function correlation(a: Float32Array, b: Float32Array): number {
  let sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sa += a[i]!;
    sb += b[i]!;
    sab += a[i]! * b[i]!;
    saa += a[i]! ** 2;
    sbb += b[i]! ** 2;
  }
  const n = a.length;
  return (sab / n - (sa / n) * (sb / n)) / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
}

let model: ReturnType<typeof serialize>;
const seeds = (() => {
  const rng = new Prng(11);
  return [drawNoiseSeed(rng), drawNoiseSeed(rng), BigInt64Array.of(0n, 1n)];
})();
async function noise(seed: BigInt64Array, threads = 1): Promise<Float32Array> {
  const session = await Session.create(model, { threads });
  try {
    return (await session.run({ seed })).noise as Float32Array;
  } finally {
    await session.release();
  }
}

beforeAll(() => {
  const g = new Graph();
  g.output(hashedNormal(g, g.input('seed', [2], 'int64'), [N]), 'noise');
  model = serialize(g);
});

describe('the hashed normal noise', () => {
  it('has the moments and the CDF of N(0, 1), for a drawn seed and the smallest one', async () => {
    for (const seed of [seeds[0]!, seeds[2]!]) {
      const z = await noise(seed);
      let sum = 0;
      let sq = 0;
      let finite = 0;
      const bins = new Float64Array(32);
      for (const v of z) {
        if (Number.isFinite(v)) finite++;
        sum += v;
        sq += v * v;
        bins[Math.min(31, Math.floor(normalCdf(v) * 32))]!++;
      }
      expect(finite).toBe(N);
      const mean = sum / N;
      expect(Math.abs(mean)).toBeLessThan(0.005); // σ of the mean: 0.001
      expect(Math.abs(sq / N - mean * mean - 1)).toBeLessThan(0.01); // σ of the variance: 0.0014
      expect(chiSquare(bins, N)).toBeLessThan(90); // 31 degrees of freedom: mean 31, σ 7.9
    }
  });

  it('has no dependence between neighbouring counters or within a Box–Muller pair', async () => {
    const z = await noise(seeds[0]!);
    const half = Math.ceil(N / 2);
    expect(Math.abs(correlation(z.subarray(0, N - 1), z.subarray(1)))).toBeLessThan(0.005);
    expect(Math.abs(correlation(z.subarray(0, N - half), z.subarray(half)))).toBeLessThan(0.005);
    // consecutive pairs, as uniforms through Φ, fill a 16 × 16 grid evenly (a lattice would not)
    const grid = new Float64Array(256);
    const cell = (v: number) => Math.min(15, Math.floor(normalCdf(v) * 16));
    for (let i = 0; i + 1 < N; i += 2) grid[cell(z[i]!) * 16 + cell(z[i + 1]!)]!++;
    expect(chiSquare(grid, Math.floor(N / 2))).toBeLessThan(400); // 255 degrees of freedom: σ 22.6
  });

  it('differs between seeds, and not by a shift of the counters', async () => {
    const [a, b] = [await noise(seeds[0]!), await noise(seeds[1]!)];
    expect(Math.abs(correlation(a, b))).toBeLessThan(0.005);
    const pairs = new Set<string>();
    for (let i = 0; i + 1 < N; i++) pairs.add(`${a[i]},${a[i + 1]}`);
    let shared = 0;
    for (let i = 0; i + 1 < N; i++) if (pairs.has(`${b[i]},${b[i + 1]}`)) shared++;
    expect(shared).toBeLessThan(10);
  });

  it('is the same bits at 1, 2 and 4 threads', async () => {
    const one = await noise(seeds[1]!, 1);
    for (const threads of [2, 4]) expect(Buffer.from((await noise(seeds[1]!, threads)).buffer).equals(Buffer.from(one.buffer))).toBe(true);
  });
});
