/** imagine --model biggan|siren: per-model defaults, the reference tools' flags, BigGAN's sizes, real tiny runs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImagineArgs } from '../../src/cli/imagine-options.ts';
import { runImagine } from '../../src/cli/imagine.ts';
import { readPngText } from '../../src/engine/generate/images.ts';
import { bigganFixture, fixture } from '../helpers/fixtures.ts';

const MODELS = ['--clip', fixture('clip-openai'), '--vqgan', fixture('vqgan')];
const BIGGAN = ['--biggan', bigganFixture('biggan')];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-imagine-models-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runImagine(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s), isTTY: false, columns: 100 }, env: {}, cwd: tmp });
  return { code, stdout, stderr };
}

describe('imagine --model', () => {
  it('gives each painter its own defaults and takes the reference tools\' flags', () => {
    const v = parseImagineArgs(['a fox', ...MODELS], {}, tmp);
    expect(v).toMatchObject({ model: 'vqgan', lr: 0.1, optimiser: 'Adam', cutn: 32 });
    const b = parseImagineArgs(['a pyramid made of ice', '--model', 'biggan', '--image-size', '512', '--max-classes', '15', '--text-min', 'blur|dark', ...MODELS, ...BIGGAN], {}, tmp);
    expect(b).toMatchObject({ model: 'biggan', lr: 0.07, optimiser: 'Adam', cutn: 128, width: 512, height: 512, maxClasses: 15 });
    expect(b.prompts.map((p) => [p.text, p.weight])).toEqual([['a pyramid made of ice', 1], ['blur', -1], ['dark', -1]]);
    const s = parseImagineArgs(['a house in the forest', '-m', 'siren', '--num_layers', '8', '--learning_rate', '2e-5', '--batch_size', '8', '--gradient_accumulate_every', '2', '--image_width', '128', ...MODELS], {}, tmp);
    expect(s).toMatchObject({ model: 'siren', lr: 2e-5, optimiser: 'AdamP', cutn: 8, sirenLayers: 8, accumulate: 2, width: 128, height: 128 });
  });

  it('takes ENGINE_MEMORY from the environment like the bot (fast by default) and refuses other values', () => {
    expect(parseImagineArgs(['a fox', ...MODELS], {}, tmp).memory).toBe('fast');
    expect(parseImagineArgs(['a fox', ...MODELS], { ENGINE_MEMORY: 'lean' }, tmp).memory).toBe('lean');
    expect(() => parseImagineArgs(['a fox', ...MODELS], { ENGINE_MEMORY: 'huge' }, tmp)).toThrow(/ENGINE_MEMORY must be fast or lean/);
  });

  it('refuses BigGAN sizes other than 128, 256 or 512 and BigGAN-only flags elsewhere', async () => {
    const r = await run(['x', '--model', 'biggan', '-s', '200', '200', ...MODELS, ...BIGGAN]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/128, 256 or 512/);
    const r2 = await run(['x', '--max-classes', '3', ...MODELS]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/--max-classes is for --model biggan only/);
  });

  it('paints with BigGAN and SIREN (tiny models) and writes the model into the PNG', async () => {
    for (const [model, extra] of [
      ['biggan', ['--image-size', '128', '-cuts', '4', ...BIGGAN]],
      ['siren', ['--image-size', '32', '--num_layers', '2', '--hidden_size', '16', '--gradient_accumulate_every', '2']],
    ] as const) {
      const out = path.join(tmp, `${model}.png`);
      const r = await run(['a red apple', '--model', model, '-i', '3', '-sd', '4', '--threads', '1', '-o', out, '--json', ...extra, ...MODELS]);
      expect(r.code, r.stderr).toBe(0);
      const meta = JSON.parse(readPngText(fs.readFileSync(out)).settings!) as Record<string, unknown>;
      expect(meta.model).toBe(model);
      expect(r.stdout.trim().split('\n').at(-1)).toMatch(/"done":true/);
    }
  });
});
