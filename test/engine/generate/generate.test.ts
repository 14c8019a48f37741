/**
 * The generation loop with the tiny fixture models (64×64 pictures): it paints towards the prompt, is
 * reproducible from the seed (bytes), resumes from a checkpoint to the same bytes, stops within a step
 * when cancelled, and writes the prompt/seed/settings into the PNG and an animated timelapse.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, type Engine, type EngineState, type GenerateResult, type StepReport } from '../../../src/engine/generate/generator.ts';
import { readPngText } from '../../../src/engine/generate/images.ts';
import { base, cosine, pixels, tinyEngine, embedPng } from './helpers.ts';

let engine: Engine;
beforeAll(async () => {
  engine = await tinyEngine();
});
afterAll(async () => {
  await engine?.release();
});

describe('painting towards a prompt', () => {
  it('30 steps raise the CLIP similarity between the picture and the prompt', async () => {
    const reports: StepReport[] = [];
    const start = await engine.generate(base({ steps: 0, seed: 3 }));
    const r = await engine.generate(base({ steps: 30, seed: 3 }), { onProgress: (p) => reports.push(p) });
    expect(reports.map((p) => p.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    for (const p of reports) {
      expect(Number.isFinite(p.loss)).toBe(true);
      expect(p.steps).toBe(30);
      expect(p.itPerSec).toBeGreaterThan(0);
    }
    const first = reports[0]!;
    const last = reports.at(-1)!;
    expect(last.similarity).toBeGreaterThan(first.similarity + 0.1);
    expect(last.loss).toBeLessThan(first.loss);

    // Independently: CLIP of the written PNGs (start vs end) against the prompt's text embedding.
    const { embeds: text } = await engine.embedTexts(['a red apple']);
    const before = cosine(await embedPng(engine, start.png), text);
    const after = cosine(await embedPng(engine, r.png), text);
    expect(after).toBeGreaterThan(before + 0.1);
    expect(r.timings.stepMs).toHaveLength(30);
  });
});

describe('seeds, checkpoints, metadata, timelapse', () => {
  const snaps: { step: number; png: Buffer; state: EngineState }[] = [];
  let a: GenerateResult;
  beforeAll(async () => {
    a = await engine.generate(base({ seed: 11, steps: 4, saveEvery: 2, timelapse: true }), { onSnapshot: (s) => snaps.push(s) });
  });

  it('one seed gives byte-identical PNGs; another seed a different one', async () => {
    const again = await engine.generate(base({ seed: 11, steps: 4 }));
    expect(Buffer.compare(again.png, a.png)).toBe(0);
    expect(again.finalZ.data).toEqual(a.finalZ.data);
    const other = await engine.generate(base({ seed: 12, steps: 4 }));
    expect(Buffer.compare(other.png, a.png)).not.toBe(0);
    expect(Buffer.compare(await pixels(other.png), await pixels(a.png))).not.toBe(0);
  });

  it('the seed fixes the starting latent: random codebook entries', async () => {
    const z1 = (await engine.generate(base({ seed: 11, steps: 0 }))).finalZ;
    const z1b = (await engine.generate(base({ seed: 11, steps: 0 }))).finalZ;
    const z2 = (await engine.generate(base({ seed: 12, steps: 0 }))).finalZ;
    expect(z1.data).toEqual(z1b.data);
    expect(z1.data).not.toEqual(z2.data);
    // every position is one of the codebook vectors
    const { codebook, config } = engine.models.vqgan;
    const [, E, h, w] = z1.shape as [number, number, number, number];
    expect(E).toBe(config.embedDim);
    for (let p = 0; p < h * w; p++) {
      let found = false;
      for (let k = 0; k < config.nEmbed && !found; k++) {
        found = true;
        for (let c = 0; c < E && found; c++) found = codebook[k * E + c] === z1.data[c * h * w + p];
      }
      expect(found, `position ${p}`).toBe(true);
    }
    // and the step-0 snapshot of the seeded run shows that same start
    const start = await engine.generate(base({ seed: 11, steps: 0 }));
    expect(Buffer.compare(await pixels(snaps[0]!.png), await pixels(start.png))).toBe(0);
  });

  it('snapshots come every saveEvery steps with the state to resume after them', () => {
    expect(snaps.map((s) => s.step)).toEqual([0, 2]);
    expect(snaps.map((s) => s.state.step)).toEqual([1, 3]);
    for (const s of snaps) {
      expect(s.state.z.length).toBe(a.finalZ.data.length);
      expect(s.state.rng).toHaveLength(4);
      expect(s.state.optimiser.name).toBe('Adam');
    }
  });

  it('resuming from a checkpoint gives the same final PNG as the uninterrupted run', async () => {
    for (const snap of snaps) {
      const resumed = await engine.generate(base({ seed: 11, steps: 4 }), { resume: snap.state });
      expect(Buffer.compare(resumed.png, a.png), `resumed after step ${snap.state.step}`).toBe(0);
    }
  });

  it('the PNG carries the prompt, seed and settings in its text chunks', () => {
    const text = readPngText(a.png);
    expect(text.prompt).toBe('a red apple');
    expect(text.seed).toBe('11');
    const settings = JSON.parse(text.settings!) as Record<string, unknown>;
    expect(settings).toMatchObject({ prompt: 'a red apple', seed: 11, steps: 4, width: 64, height: 64, cutn: 4, cutMethod: 'original', optimiser: 'Adam', lr: 0.1 });
    expect(a.metadata).toMatchObject({ seed: 11, steps: 4 });
  });

  it('the timelapse WebP and GIF are animated (snapshots + final frame)', async () => {
    for (const anim of [a.timelapseWebp!, a.timelapseGif!]) {
      const meta = await sharp(anim, { animated: true }).metadata();
      // 3 frames (steps 0, 2 and the final picture); encoders merge identical neighbours, adding delays
      expect(meta.pages).toBeGreaterThan(1);
      expect(meta.width).toBe(64);
      expect(meta.pageHeight).toBe(64);
      expect(meta.delay!.reduce((x, y) => x + y, 0)).toBe(150 + 150 + 1200);
    }
    expect((await sharp(a.timelapseWebp!).metadata()).format).toBe('webp');
    expect((await sharp(a.timelapseGif!).metadata()).format).toBe('gif');
  });
});

describe('cancel', () => {
  it('an abort during a step stops the run after that step, with the state to resume from', async () => {
    const ac = new AbortController();
    let afterAbort = 0;
    let total = 0;
    let abortState: EngineState | undefined;
    const run = engine.generate(base({ seed: 5, steps: 200 }), {
      signal: ac.signal,
      onProgress: (p) => {
        total++;
        if (ac.signal.aborted) afterAbort++;
        // abort while the next step is in flight
        if (p.step === 2) setImmediate(() => ac.abort(new Error('user cancelled')));
      },
      onAbortState: (s) => (abortState = s),
    });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(afterAbort).toBeLessThanOrEqual(1);
    expect(total).toBeLessThanOrEqual(3);
    expect(abortState?.step).toBe(total);
  });

  it('an already aborted signal runs no step', async () => {
    let steps = 0;
    const ac = new AbortController();
    ac.abort();
    await expect(engine.generate(base({ steps: 5 }), { signal: ac.signal, onProgress: () => steps++ })).rejects.toBeInstanceOf(AbortedError);
    expect(steps).toBe(0);
  });
});
