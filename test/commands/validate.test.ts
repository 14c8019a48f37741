import { describe, expect, it } from 'vitest';
import { buildRequest, sizeFor, ValidationError, type ImagineInput } from '../../src/commands/validate.ts';

const limits = { maxSteps: 300, maxSize: 512 };
const defaults = { defaultSteps: 100, defaultSize: 256, defaultCutn: 32, saveEvery: 25 };
const build = (input: Partial<ImagineInput>) => buildRequest({ prompt: 'a fox', ...input }, limits, defaults, () => 0.5);
const problems = (input: Partial<ImagineInput>): string[] => {
  try {
    build(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).problems;
  }
  throw new Error('no error');
};

describe('/imagine options → GenerationRequest', () => {
  it('fills defaults', () => {
    expect(build({}).request).toEqual({ prompt: 'a fox', steps: 100, width: 256, height: 256, seed: 2 ** 30, cutn: 32, saveEvery: 25 });
  });

  it('applies style, aspect, size, steps, seed and the advanced knobs', () => {
    const { request } = build({ prompt: 'a fox | snow:0.5', style: 'watercolour', aspect: '16:9', size: 400, steps: 50, seed: 7, cutouts: 8, learningRate: 0.2, optimiser: 'adamw' });
    expect(request).toEqual({ prompt: 'a fox, watercolour painting | snow:0.5', steps: 50, width: 400, height: 224, seed: 7, cutn: 8, lr: 0.2, optimiser: 'AdamW', saveEvery: 25 });
  });

  it('rounds sides down to multiples of 16 and keeps the aspect', () => {
    expect(sizeFor(256, { w: 1, h: 1 })).toEqual({ width: 256, height: 256 });
    expect(sizeFor(300, { w: 2, h: 3 })).toEqual({ width: 192, height: 288 });
    expect(sizeFor(64, { w: 9, h: 16 })).toEqual({ width: 32, height: 64 });
  });

  it('bounds every number by the live limits, reporting all problems at once', () => {
    expect(problems({ steps: 301 })).toEqual(["Steps must be between 1 and 300 (this server's limit); you asked for 301."]);
    expect(problems({ steps: 0 })[0]).toMatch(/between 1 and 300/);
    expect(problems({ size: 513 })[0]).toMatch(/between 64 and 512/);
    expect(problems({ size: 32 })[0]).toMatch(/between 64 and 512/);
    expect(problems({ seed: -1 })[0]).toMatch(/seed must be a whole number from 0 to 4294967295/);
    expect(problems({ cutouts: 500 })[0]).toMatch(/Cutouts must be between 1 and 128/);
    expect(problems({ learningRate: 0 })[0]).toMatch(/learning rate must be between 0.000001 and 1/);
    expect(problems({ optimiser: 'SGD' })[0]).toMatch(/don't know the optimiser “SGD”/);
    expect(problems({ style: 'cubism' })[0]).toMatch(/don't know the style/);
    expect(problems({ aspect: '5:1' })[0]).toMatch(/don't know the aspect/);
    expect(problems({ prompt: 'x:abc', steps: 1000, size: 9000 })).toHaveLength(3);
    expect(new ValidationError(['a', 'b']).userMessage).toBe('\n• a\n• b');
  });

  it('defaults never exceed lowered limits', () => {
    const r = buildRequest({ prompt: 'x' }, { maxSteps: 10, maxSize: 128 }, defaults, () => 0);
    expect(r.request).toMatchObject({ steps: 10, width: 128, height: 128, saveEvery: 10 });
  });
});
