/**
 * CLIP ViT-B/32 and the VQGAN f16_16384 decoder at their real sizes, with random weights under the real
 * key names (model-spec appendices A and D), built through the same name mapping and size inference as
 * the checkpoints: image encoder on 2 images, text encoder on 2 prompts, decoder on a 16×16 latent,
 * through the one-cutout loss (256 → 224 area resample). About 20 s of CPU.
 *
 * The gradient check against central finite differences costs about four times more (backward pass
 * plus 2 forward passes per direction at 256×256), so it runs with REVERIE_SLOW_TESTS=1, or as
 * `node --import tsx scripts/real-size.ts`. Tolerances: along the gradient's own direction (step 0.25)
 * the directional derivative must agree to 1e-3 relative; along random unit directions (step 4), whose
 * derivatives are ~‖g‖/√65536 and whose loss differences (~2e-4) sit near float32 noise, to 5e-2.
 */
import { describe, expect, it } from 'vitest';
import { realSizeCheck } from '../../helpers/real-size.ts';

const SLOW = process.env.REVERIE_SLOW_TESTS === '1';

describe('real sizes: CLIP ViT-B/32 and VQGAN f16_16384 with random weights', () => {
  it(SLOW ? 'build, run, and the gradient matches central finite differences' : 'build and run (gradient check: REVERIE_SLOW_TESTS=1)', async () => {
    const r = await realSizeCheck({ gradient: SLOW, directions: 2, step: 4, gradientStep: 0.25 });
    expect(r.clip).toEqual({
      embedDim: 512,
      vision: { width: 768, layers: 12, heads: 12, patch: 32, grid: 7, resolution: 224 },
      text: { width: 512, layers: 12, heads: 8, contextLength: 77, vocabSize: 49408 },
    });
    expect(r.vqgan).toEqual({ embedDim: 256, nEmbed: 16384, zChannels: 256, levels: 5, factor: 16, gumbel: false });
    expect(r.params).toEqual({ clip: 151_277_313, vqganDecoder: 46_709_891 });

    expect(r.imageEmbed.shape).toEqual([2, 512]);
    expect(r.imageEmbed.finite).toBe(true);
    // one image alone gives the same embedding as in a batch of two
    expect(r.imageEmbed.batchVsSingle.err).toBeLessThanOrEqual(r.imageEmbed.batchVsSingle.bound);
    expect(r.textEmbed).toEqual({ shape: [2, 512], finite: true });
    expect(r.decoded.shape).toEqual([1, 3, 256, 256]);
    expect(r.decoded.finite).toBe(true);
    // the random init keeps the decoded image inside (−1, 1): clamp_with_grad is inactive, so its
    // gradient is the plain derivative that finite differences see
    expect(r.decoded.min).toBeGreaterThan(-1);
    expect(r.decoded.max).toBeLessThan(1);
    expect(r.loss).toBeGreaterThan(0);
    expect(r.loss).toBeLessThanOrEqual(Math.PI ** 2 / 2);

    if (SLOW) {
      expect(r.gradFinite).toBe(true);
      expect(r.gradNorm).toBeGreaterThan(0);
      const [along, ...random] = r.fd!;
      expect(along!.relError).toBeLessThanOrEqual(1e-3);
      for (const f of random) expect(f.relError, JSON.stringify(f)).toBeLessThanOrEqual(5e-2);
    }
  }, 600_000);
});
