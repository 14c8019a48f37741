/**
 * BigGAN+CLIP (big-sleep) and SIREN+CLIP (deep-daze) through the shared loop, with the tiny fixtures
 * (BigGAN-deep 32×32, a 3 × 16 SIREN at 32×32, the parity-tiny CLIP): 30 steps raise the CLIP similarity
 * of the written picture to the prompt, the same seed gives the same PNG bytes, resuming from a snapshot's
 * checkpoint gives the same bytes as the run straight through, and a cancel stops within a step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BigganModels } from '../../../src/engine/generate/biggan-models.ts';
import { AbortedError, Engine, type EngineState, type StepReport } from '../../../src/engine/generate/generator.ts';
import { readPngText } from '../../../src/engine/generate/images.ts';
import type { GenerateSettings } from '../../../src/engine/generate/settings.ts';
import { bigganFixture } from '../../helpers/fixtures.ts';
import { base, cosine, tinyModels, embedPng } from './helpers.ts';

let engine: Engine;
beforeAll(async () => {
  const models = await tinyModels();
  engine = new Engine({ ...models, biggan: new BigganModels(bigganFixture('biggan')), siren: { numLayers: 3, dimHidden: 16 } }, 'cpu', 1);
});
afterAll(async () => {
  await engine?.release();
});

// BigGAN's picture is drawn from the EMA of the latents (decay 0.99), which lags the latents: a smaller gain
const CASES: { model: 'biggan' | 'siren'; settings: Partial<GenerateSettings>; size: number; gain: number }[] = [
  { model: 'biggan', size: 32, gain: 0.02, settings: { model: 'biggan', width: 256, height: 256, cutn: 4, lr: 0.07, optimiser: 'Adam' } },
  { model: 'siren', size: 32, gain: 0.05, settings: { model: 'siren', width: 32, height: 32, cutn: 4, accumulate: 2, lr: 1e-3, optimiser: 'AdamP' } },
];

for (const c of CASES) {
  describe(`${c.model}+CLIP`, () => {
    const s = (over: Partial<GenerateSettings> = {}) => base({ ...c.settings, ...over });

    it('30 steps raise the CLIP similarity of the picture to the prompt', async () => {
      const reports: StepReport[] = [];
      const start = await engine.generate(s({ steps: 0, seed: 3 }));
      const r = await engine.generate(s({ steps: 30, seed: 3 }), { onProgress: (p) => reports.push(p) });
      expect(reports).toHaveLength(30);
      for (const p of reports) expect(Number.isFinite(p.loss)).toBe(true);
      expect(r.width).toBe(c.size);
      const { embeds: text } = await engine.embedTexts(['a red apple']);
      const before = cosine(await embedPng(engine, start.png), text);
      const after = cosine(await embedPng(engine, r.png), text);
      console.log(`${c.model}: CLIP similarity of the picture ${before.toFixed(4)} → ${after.toFixed(4)}; in-loop ${reports[0]!.similarity.toFixed(4)} → ${reports.at(-1)!.similarity.toFixed(4)}`);
      expect(after).toBeGreaterThan(before + c.gain);
      expect(reports.at(-1)!.similarity).toBeGreaterThan(reports[0]!.similarity);
      const meta = JSON.parse(readPngText(r.png).settings!) as Record<string, unknown>;
      expect(meta.model).toBe(c.model);
    });

    it('the same seed gives the same PNG bytes; another seed another picture', async () => {
      const a = await engine.generate(s({ steps: 3, seed: 11 }));
      const b = await engine.generate(s({ steps: 3, seed: 11 }));
      const other = await engine.generate(s({ steps: 3, seed: 12 }));
      expect(a.png.equals(b.png)).toBe(true);
      expect(a.png.equals(other.png)).toBe(false);
    });

    it('resuming from a checkpoint gives the same bytes as the run straight through', async () => {
      const states: EngineState[] = [];
      const full = await engine.generate(s({ steps: 5, seed: 5, saveEvery: 2 }), { onSnapshot: (x) => states.push(x.state) });
      const mid = states.find((x) => x.step === 3)!;
      expect(mid).toBeDefined();
      const resumed = await engine.generate(s({ steps: 5, seed: 5, saveEvery: 2 }), { resume: mid });
      expect(resumed.png.equals(full.png)).toBe(true);
    });

    it('a cancel stops within a step', async () => {
      const ac = new AbortController();
      const seen: number[] = [];
      let aborted: EngineState | undefined;
      const p = engine.generate(s({ steps: 50, seed: 9 }), {
        signal: ac.signal,
        onProgress: (r) => {
          seen.push(r.step);
          if (r.step === 2) ac.abort('cancelled');
        },
        onAbortState: (st) => (aborted = st),
      });
      await expect(p).rejects.toBeInstanceOf(AbortedError);
      expect(Math.max(...seen)).toBeLessThanOrEqual(3);
      expect(aborted!.step).toBe(Math.max(...seen));
    });
  });
}
