/**
 * BigGAN-deep-256 with random weights (≈56 M parameters, a 224 MiB legacy torch.save file under the release
 * names), read back through the real loader; the official forward at truncation 0.4 and big-sleep's image
 * with its gradient, checked against central finite differences along the gradient. About 40 s on two cores,
 * so it runs with REVERIE_SLOW_TESTS=1, or as `node --import tsx scripts/real-size-biggan.ts`.
 */
import { describe, expect, it } from 'vitest';
import { bigganRealSizeCheck } from '../../helpers/real-size-biggan.ts';

const SLOW = process.env.REVERIE_SLOW_TESTS === '1';

describe.skipIf(!SLOW)('real size: BigGAN-deep-256 with random weights', () => {
  it('loads the legacy file, runs the forward and big-sleep, and the gradient matches finite differences', async () => {
    const r = await bigganRealSizeCheck();
    console.log(JSON.stringify(r));
    expect(r.size).toBe(256);
    expect(r.tensors).toBe(602);
    expect(r.fileMiB).toBe(224);
    expect(r.forward.shape).toEqual([1, 3, 256, 256]);
    expect(r.forward.finite).toBe(true);
    expect(r.forward.min).toBeGreaterThanOrEqual(-1);
    expect(r.forward.max).toBeLessThanOrEqual(1);
    expect(r.forward.max - r.forward.min).toBeGreaterThan(0.01);
    expect(r.bigSleep.shape).toEqual([1, 3, 256, 256]);
    expect(r.bigSleep.finite).toBe(true);
    expect(r.bigSleep.min).toBeGreaterThanOrEqual(0);
    expect(r.bigSleep.max).toBeLessThanOrEqual(1);
    expect(r.bigSleep.gradFinite).toBe(true);
    expect(r.bigSleep.gradNorm).toBeGreaterThan(0);
    expect(r.fd.relError).toBeLessThanOrEqual(1e-2);
  }, 900_000);
});
