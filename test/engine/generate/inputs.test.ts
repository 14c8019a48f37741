/**
 * What a picture can start from and be pulled towards: image prompts, noise prompts, an init image, init
 * noise (pixels, gradient), a starting latent (variations), the init-weight term, weights and stops.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, GenerateResult, StepReport } from '../../../src/engine/generate/generator.ts';
import type { GenerateSettings } from '../../../src/engine/generate/settings.ts';
import { base, pixels, tinyEngine } from './helpers.ts';

let engine: Engine;
let tmp: string;
let redPng: string;
let bluePng: Buffer;
beforeAll(async () => {
  engine = await tinyEngine();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-inputs-'));
  redPng = path.join(tmp, 'red.png');
  // a red disc on white, bigger than the picture and not square (it is resized to cover)
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="80"><rect width="96" height="80" fill="white"/><circle cx="48" cy="40" r="30" fill="#d01010"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(redPng);
  bluePng = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 20, g: 40, b: 220 } } }).png().toBuffer();
});
afterAll(async () => {
  await engine?.release();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(settings: GenerateSettings): Promise<{ r: GenerateResult; reports: StepReport[] }> {
  const reports: StepReport[] = [];
  const r = await engine.generate(settings, { onProgress: (p) => reports.push(p) });
  for (const p of reports) expect(Number.isFinite(p.loss), `loss at step ${p.step}`).toBe(true);
  return { r, reports };
}

const textOnly = () => engine.generate(base({ steps: 2, seed: 31 }));

describe('prompts', () => {
  it('image prompts (a file and bytes) join the text prompt and change the result', async () => {
    const plain = await textOnly();
    const { r, reports } = await run(
      base({
        steps: 2,
        seed: 31,
        imagePrompts: [
          { source: redPng, weight: 1, stop: -Infinity },
          { source: bluePng, weight: 0.5, stop: -Infinity },
        ],
      }),
    );
    expect(reports).toHaveLength(2);
    expect(r.finalZ.data).not.toEqual(plain.finalZ.data);
  });

  it('an image prompt alone paints towards the image', async () => {
    const { reports } = await run(base({ prompts: [], steps: 6, seed: 32, imagePrompts: [{ source: redPng, weight: 1, stop: -Infinity }] }));
    // the similarity reported is against the first image-prompt target
    expect(reports.at(-1)!.similarity).toBeGreaterThan(reports[0]!.similarity);
  });

  it('noise prompts work alone and with text, and their seed matters', async () => {
    const plain = await textOnly();
    const a = await run(base({ steps: 2, seed: 31, noisePrompts: [{ seed: 1, weight: 0.5 }] }));
    const b = await run(base({ steps: 2, seed: 31, noisePrompts: [{ seed: 2, weight: 0.5 }] }));
    expect(a.r.finalZ.data).not.toEqual(plain.finalZ.data);
    expect(a.r.finalZ.data).not.toEqual(b.r.finalZ.data);
    const alone = await run(base({ prompts: [], steps: 2, seed: 31, noisePrompts: [{ seed: 1, weight: 1 }] }));
    expect(alone.reports).toHaveLength(2);
  });

  it('negative weights push away and stop values switch a term off', async () => {
    const plain = await textOnly();
    const neg = await run(base({ steps: 2, seed: 31, prompts: [{ text: 'a red apple', weight: 1, stop: -Infinity }, { text: 'green', weight: -1, stop: -Infinity }] }));
    expect(neg.r.finalZ.data).not.toEqual(plain.finalZ.data);
    // a stop above any spherical distance (≤ π²/4·… < 10) stops the pull from the first step: z stays put
    const start = await engine.generate(base({ steps: 0, seed: 31 }));
    const stopped = await run(base({ steps: 2, seed: 31, prompts: [{ text: 'a red apple', weight: 1, stop: 10 }] }));
    expect(stopped.r.finalZ.data).toEqual(start.finalZ.data);
  });

  it('with nothing to paint towards it says so', async () => {
    await expect(engine.generate(base({ prompts: [] }))).rejects.toThrow(/nothing to paint/);
  });
});

describe('starting points', () => {
  it('an init image is encoded to the starting latent (deterministically, not from the codebook draw)', async () => {
    const a = await engine.generate(base({ steps: 0, seed: 41, initImage: redPng }));
    const b = await engine.generate(base({ steps: 0, seed: 42, initImage: redPng }));
    const random = await engine.generate(base({ steps: 0, seed: 41 }));
    expect(a.finalZ.data).toEqual(b.finalZ.data); // the seed plays no part in encoding a picture
    expect(a.finalZ.data).not.toEqual(random.finalZ.data);
    const other = await engine.generate(base({ steps: 0, seed: 41, initImage: bluePng }));
    expect(other.finalZ.data).not.toEqual(a.finalZ.data);
    const { reports } = await run(base({ steps: 2, seed: 41, initImage: redPng, initWeight: 0.5 }));
    expect(reports).toHaveLength(2);
  });

  it('init noise (pixels, gradient) comes from the seed', async () => {
    const z = async (over: Partial<GenerateSettings>) => (await engine.generate(base({ steps: 0, ...over }))).finalZ.data;
    const pixels1 = await z({ seed: 51, initNoise: 'pixels' });
    expect(await z({ seed: 51, initNoise: 'pixels' })).toEqual(pixels1);
    expect(await z({ seed: 52, initNoise: 'pixels' })).not.toEqual(pixels1);
    const gradient = await z({ seed: 51, initNoise: 'gradient' });
    expect(gradient).not.toEqual(pixels1);
    expect(await z({ seed: 52, initNoise: 'gradient' })).not.toEqual(gradient);
    const { reports } = await run(base({ steps: 2, seed: 51, initNoise: 'gradient' }));
    expect(reports).toHaveLength(2);
  });

  it('a starting latent (initZ) continues from an earlier picture', async () => {
    const first = await engine.generate(base({ steps: 2, seed: 61 }));
    const same = await engine.generate(base({ steps: 0, seed: 99, initZ: first.finalZ.data }));
    expect(Buffer.compare(await pixels(same.png), await pixels(first.png))).toBe(0);
    const { r } = await run(base({ steps: 2, seed: 99, initZ: first.finalZ.data }));
    expect(r.finalZ.data).not.toEqual(first.finalZ.data);
    await expect(engine.generate(base({ steps: 1, initZ: new Float32Array(5) }))).rejects.toThrow(/starting latent has 5 values/);
  });

  it('sizes are rounded down to the VQGAN factor', async () => {
    const r = await engine.generate(base({ steps: 0, width: 67, height: 66 }));
    expect([r.width, r.height]).toEqual([64, 64]);
    const meta = await sharp(r.png).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);
  });
});
