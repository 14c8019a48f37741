/**
 * Every cutout method and every optimiser runs with the tiny fixture models; the optimisers follow
 * torch.optim's first steps; option helpers (augments, size rounding).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUGMENTS, DEFAULT_AUGMENTS, parseAugments, type CutMethod } from '../../../src/engine/generate/cutouts.ts';
import type { Engine, StepReport } from '../../../src/engine/generate/generator.ts';
import { OPTIMISERS, createOptimiser } from '../../../src/engine/generate/optimisers.ts';
import { roundSize } from '../../../src/engine/generate/settings.ts';
import { base, pixels, tinyEngine } from './helpers.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await tinyEngine();
});
afterAll(async () => {
  await engine?.release();
});

function expectInCodebookRange(z: Float32Array, shape: number[]): void {
  const { min, max } = engine.models.vqgan.codebookRange();
  const [, E, h, w] = shape as [number, number, number, number];
  for (let c = 0; c < E; c++) {
    for (let p = c * h * w; p < (c + 1) * h * w; p++) {
      expect(z[p]).toBeGreaterThanOrEqual(min[c]!);
      expect(z[p]).toBeLessThanOrEqual(max[c]!);
    }
  }
}

describe('cutout methods', () => {
  const cases: { method: CutMethod; augments: (typeof AUGMENTS)[number][] }[] = [
    { method: 'original', augments: DEFAULT_AUGMENTS.original },
    // every augment at once, so each one's graph and random parameters are exercised
    { method: 'updated', augments: [...AUGMENTS] },
    { method: 'latest', augments: DEFAULT_AUGMENTS.latest },
  ];
  for (const { method, augments } of cases) {
    it(`${method} (${augments.join(' ') || 'no augments'}) runs with finite losses and is reproducible`, async () => {
      const reports: StepReport[] = [];
      const settings = base({ cutMethod: method, augments, steps: 2, seed: 21, cutPow: method === 'original' ? 1 : 0.8 });
      const r = await engine.generate(settings, { onProgress: (p) => reports.push(p) });
      expect(reports).toHaveLength(2);
      for (const p of reports) {
        expect(Number.isFinite(p.loss)).toBe(true);
        expect(p.loss).toBeGreaterThan(0);
        expect(Math.abs(p.similarity)).toBeLessThanOrEqual(1);
      }
      expect((await pixels(r.png)).length).toBe(64 * 64 * 3);
      const again = await engine.generate(settings);
      expect(Buffer.compare(again.png, r.png)).toBe(0);
    });
  }
});

describe('optimisers', () => {
  for (const name of OPTIMISERS) {
    it(`${name} runs a few steps with finite losses, moving z within the codebook range`, async () => {
      const reports: StepReport[] = [];
      const start = await engine.generate(base({ steps: 0, seed: 9 }));
      const r = await engine.generate(base({ optimiser: name, lr: name === 'RMSprop' ? 0.02 : 0.1, steps: 3, seed: 9 }), { onProgress: (p) => reports.push(p) });
      expect(reports.map((p) => Number.isFinite(p.loss))).toEqual([true, true, true]);
      expect(r.finalZ.data).not.toEqual(start.finalZ.data);
      expectInCodebookRange(r.finalZ.data, r.finalZ.shape);
      expect(r.metadata.optimiser).toBe(name);
    });
  }

  it("first steps follow torch.optim's update rules", () => {
    const g = Float32Array.of(0.5, -2, 0, 3);
    const lr = 0.1;
    const first = (name: (typeof OPTIMISERS)[number]) => {
      const z = Float32Array.of(1, 1, 1, 1);
      createOptimiser(name, lr, 4).step(z, g);
      return [...z];
    };
    const sign = [...g].map((x) => Math.sign(x));
    const close = (a: number[], b: number[]) => a.forEach((x, i) => expect(x, `element ${i}`).toBeCloseTo(b[i]!, 5));
    close(first('Adam'), sign.map((s) => 1 - lr * s));
    close(first('AdamW'), sign.map((s) => 1 * (1 - lr * 0.01) - lr * s));
    close(first('Adagrad'), sign.map((s) => 1 - lr * s));
    close(first('Adamax'), sign.map((s) => 1 - lr * s));
    close(first('RMSprop'), sign.map((s) => 1 - lr * 10 * s)); // v = 0.01 g² → g/√v = 10·sign
    close(first('RAdam'), [...g].map((x) => 1 - lr * x)); // ρ₁ ≤ 5: plain momentum SGD step
  });

  it('state() and load() continue exactly where a run left off', () => {
    for (const name of OPTIMISERS) {
      const grads = [Float32Array.of(0.3, -1, 2), Float32Array.of(-0.2, 0.5, 1), Float32Array.of(1, 1, -1)];
      const zA = Float32Array.of(0, 0, 0);
      const a = createOptimiser(name, 0.1, 3);
      for (const gr of grads) a.step(zA, gr);
      const zB = Float32Array.of(0, 0, 0);
      const b1 = createOptimiser(name, 0.1, 3);
      b1.step(zB, grads[0]!);
      const b2 = createOptimiser(name, 0.1, 3);
      b2.load(b1.state());
      b2.step(zB, grads[1]!);
      b2.step(zB, grads[2]!);
      expect([...zB], name).toEqual([...zA]);
    }
  });
});

describe('option helpers', () => {
  it('parseAugments accepts the reference codes and explains the rest', () => {
    expect(parseAugments(['Af', 'Pe', 'Ji', 'Er'])).toEqual(['Af', 'Pe', 'Ji', 'Er']);
    expect(() => parseAugments(['Xx'])).toThrow(/unknown augment "Xx"/);
    expect(() => parseAugments(['Et'])).toThrow(/not supported/);
  });

  it('roundSize rounds down to the VQGAN factor, at least one token', () => {
    expect(roundSize(250, 130, 16)).toEqual({ width: 240, height: 128 });
    expect(roundSize(5, 3, 4)).toEqual({ width: 4, height: 4 });
  });
});
