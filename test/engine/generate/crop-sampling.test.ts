/** big-sleep's and deep-daze's cutout sampling: the size laws, the offsets, and F.interpolate's weights. */
import { describe, expect, it } from 'vitest';
import { cropSizes, interpolateMatrix, sampleCrops } from '../../../src/engine/generate/crop-sampling.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';

describe('crop sampling', () => {
  it("big-sleep: sizes int(side · clip(N(0.8, 0.3), 0.5, 0.95)), both clip ends reached", () => {
    const sizes = cropSizes(new Prng(1), 'bigsleep', 4000, 256, {});
    expect(Math.min(...sizes)).toBe(128);
    expect(Math.max(...sizes)).toBe(Math.floor(256 * 0.95));
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length / 256;
    expect(mean).toBeGreaterThan(0.7);
    expect(mean).toBeLessThan(0.8);
  });

  it('deep-daze: sizes uniform in [lower, upper) of the side, or Gaussian redrawn inside the bounds', () => {
    const sizes = cropSizes(new Prng(2), 'deepdaze', 4000, 200, { lower: 0.1, upper: 1 });
    expect(Math.min(...sizes)).toBe(20);
    expect(Math.max(...sizes)).toBe(199);
    const g = cropSizes(new Prng(3), 'deepdaze', 4000, 200, { lower: 0.5, upper: 0.7, gauss: { mean: 0.6, std: 0.2 } });
    expect(Math.min(...g)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...g)).toBeLessThanOrEqual(140);
  });

  it("F.interpolate's nearest and bilinear (align_corners false) weights", () => {
    const near = interpolateMatrix(4, 8, false);
    expect(Array.from({ length: 8 }, (_, i) => near.subarray(i * 4, i * 4 + 4).indexOf(1))).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    const bil = interpolateMatrix(4, 8, true);
    for (let i = 0; i < 8; i++) expect(bil.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    // out 1: src = 1.5 · 0.5 − 0.5 = 0.25 → 0.75 of pixel 0, 0.25 of pixel 1
    expect(Array.from(bil.subarray(4, 8))).toEqual([0.75, 0.25, 0, 0]);
  });

  it('crop matrices: each cutout row of ry sums to 1 inside the picture', () => {
    const { cut_ry, cut_rxt } = sampleCrops(new Prng(4), 'bigsleep', 3, 8, 32, 32, {});
    expect(cut_ry).toHaveLength(3 * 8 * 32);
    expect(cut_rxt).toHaveLength(3 * 32 * 8);
    for (let r = 0; r < 3 * 8; r++) expect(cut_ry.subarray(r * 32, r * 32 + 32).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });
});
