/**
 * The request schema (src/engine/request-schema.ts) is the one place a request's fields are declared:
 * a field added there appears in the slash command, the CLI's help and options, and the scheduler's
 * check, each bounded by its own caps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helpText, parseImagineArgs, parseRaw } from '../src/cli/imagine-options.ts';
import { imagineDefinition } from '../src/commands/imagine.ts';
import { buildRequest, ValidationError } from '../src/commands/validate.ts';
import { checkRequest, REQUEST_FIELDS, type RequestFields } from '../src/engine/request-schema.ts';
import { fixture, repoRoot } from './helpers/fixtures.ts';

const SHARPNESS = { kind: 'number', min: 0, max: 10, default: 1, label: 'the sharpness', help: 'how crisp the edges are' } as const;
const PALETTE = { kind: 'choice', choices: ['warm', 'cold'], label: 'palette', help: 'colour palette', slash: { advanced: true }, cli: { short: 'pal' } } as const;
const EXTENDED: RequestFields = { ...REQUEST_FIELDS, sharpness: SHARPNESS, palette: PALETTE };

const valid = { prompt: 'a fox', steps: 10, width: 64, height: 64, seed: 1 };
const limits = { maxSteps: 300, maxSize: 512 };
const defaults = { defaultSteps: 100, defaultSize: 256, defaultCutn: 32, saveEvery: 25 };
const MODELS = ['--clip', fixture('clip-openai'), '--vqgan', fixture('vqgan')];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-schema-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('a field added to the request schema', () => {
  it('becomes a slash command option, bounded by the schema', () => {
    const options = imagineDefinition({} as never, EXTENDED).options as unknown as { name: string; description: string; min_value?: number; max_value?: number; choices?: { value: string }[] }[];
    const names = options.map((o) => o.name);
    expect(names).toContain('sharpness');
    // basic fields before the attachments, advanced ones after
    expect(names.indexOf('sharpness')).toBeLessThan(names.indexOf('image_prompt'));
    expect(names.at(-1)).toBe('palette');
    expect(options.find((o) => o.name === 'sharpness')).toMatchObject({ description: 'how crisp the edges are', min_value: 0, max_value: 10 });
    expect(options.find((o) => o.name === 'palette')!.choices!.map((c) => c.value)).toEqual(['warm', 'cold']);
    // the standard definition does not have them
    expect((imagineDefinition({} as never).options ?? []).map((o) => o.name)).not.toContain('sharpness');
  });

  it('is read and checked by /imagine', () => {
    const { request } = buildRequest({ prompt: 'a fox', sharpness: 3, palette: 'COLD' }, limits, defaults, () => 0.5, EXTENDED);
    expect(request).toMatchObject({ sharpness: 3, palette: 'cold' });
    let err: unknown;
    try {
      buildRequest({ prompt: 'a fox', sharpness: 11, palette: 'neon' }, limits, defaults, () => 0.5, EXTENDED);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toEqual(['The sharpness must be between 0 and 10; you asked for 11.', 'I don\'t know the palette “neon”. Pick one of warm, cold.']);
  });

  it('becomes a CLI option, in the help and checked', () => {
    expect(helpText(EXTENDED)).toMatch(/--sharpness N? *how crisp the edges are \(default 1\)/);
    expect(helpText(EXTENDED)).toMatch(/-pal, --palette +warm, cold/);
    expect(helpText()).not.toMatch(/--sharpness/);
    expect(parseRaw(['x', '--sharpness', '2.5'], EXTENDED).raw.sharpness).toBe(2.5);
    const o = parseImagineArgs(['x', '--sharpness', '2.5', '-pal', 'warm', ...MODELS], {}, tmp, EXTENDED) as unknown as Record<string, unknown>;
    expect(o).toMatchObject({ sharpness: 2.5, palette: 'warm', steps: 200 });
    expect(parseImagineArgs(['x', ...MODELS], {}, tmp, EXTENDED)).toMatchObject({ sharpness: 1 });
    expect(() => parseImagineArgs(['x', '--sharpness', '11', ...MODELS], {}, tmp, EXTENDED)).toThrow('--sharpness must be between 0 and 10, got 11');
    expect(() => parseRaw(['x', '--sharpness', '1'])).toThrow(/unknown option --sharpness/);
  });

  it('is checked by the scheduler\'s check', () => {
    expect(() => checkRequest({ ...valid, sharpness: 2 }, EXTENDED)).not.toThrow();
    expect(() => checkRequest({ ...valid, sharpness: 11 }, EXTENDED)).toThrow(/^request\.sharpness: /);
    expect(() => checkRequest({ ...valid, palette: 'neon' }, EXTENDED)).toThrow(/^request\.palette: /);
  });
});

describe('the scheduler\'s check', () => {
  it('holds the engine\'s ranges, not a front end\'s caps', () => {
    expect(() => checkRequest(valid)).not.toThrow();
    // above the bot's caps (128 cutouts, learning rate 1, seed 2³²−1) but within the engine's
    expect(() => checkRequest({ ...valid, cutn: 500, lr: 50, seed: 2 ** 40, optimiser: 'RAdam' })).not.toThrow();
    expect(() => checkRequest({ ...valid, steps: 0 })).toThrow(/^request\.steps: /);
    expect(() => checkRequest({ ...valid, width: 2.5 })).toThrow(/^request\.width: /);
    expect(() => checkRequest({ ...valid, cutn: 0 })).toThrow(/^request\.cutn: /);
    expect(() => checkRequest({ ...valid, lr: 0 })).toThrow(/^request\.lr: /);
    expect(() => checkRequest({ ...valid, optimiser: 'SGD' })).toThrow(/^request\.optimiser: /);
    expect(() => checkRequest({ steps: 1, width: 1, height: 1, seed: 1 })).toThrow(/^request\.prompt: /);
  });
});

describe('layers', () => {
  const imports = (dir: string): { file: string; spec: string }[] => {
    const out: { file: string; spec: string }[] = [];
    for (const f of fs.readdirSync(path.join(repoRoot, dir), { recursive: true }) as string[]) {
      if (!/\.(ts|mjs)$/.test(f)) continue;
      const text = fs.readFileSync(path.join(repoRoot, dir, f), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) out.push({ file: path.join(dir, f), spec: path.normalize(path.join(dir, path.dirname(f), m[1]!)) });
    }
    return out;
  };

  it('the engine never imports the request schema or grammar from above, and the bot never imports the commands', () => {
    const up = imports('src/engine').filter((i) => /^src\/(commands|bot|cli)\//.test(i.spec) || /^src\/jobs\/(scheduler|store)/.test(i.spec));
    expect(up).toEqual([]);
    expect(imports('src/bot').filter((i) => i.spec.startsWith('src/commands/'))).toEqual([]);
  });
});
