import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, loadModels, type Models } from '../../../src/engine/generate/generator.ts';
import { fixture } from '../../helpers/fixtures.ts';

describe('Engine sessions', () => {
  let models: Models;
  let engine: Engine;
  beforeAll(async () => {
    models = await loadModels(fixture('clip-openai'), fixture('vqgan'));
    engine = new Engine(models, 'cpu', 1, 2);
  });
  afterAll(async () => {
    await engine?.release();
  });

  it('keeps at most maxSessions alive (least recently used released) and rebuilds an evicted one on demand', async () => {
    const one = await engine.embedTexts(['a red apple']);
    await engine.embedTexts(['a red apple', 'a green pear']);
    expect(engine.sessionCount).toBe(2);
    await engine.embedTexts(['a', 'b', 'c']);
    expect(engine.sessionCount).toBe(2);
    const again = await engine.embedTexts(['a red apple']); // its session was evicted: built anew
    expect(engine.sessionCount).toBe(2);
    expect([...again.embeds]).toEqual([...one.embeds]);
  });

  it('probes its device at start', async () => {
    await expect(engine.probeDevice()).resolves.toBeUndefined();
  });
});
