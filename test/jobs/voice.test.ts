import { describe, expect, it } from 'vitest';
import { Transcriber, TranscriptionRefusedError, judgeSpeech } from '../../src/jobs/transcriber.ts';
import { combinePrompts, promptFromSpeech } from '../../src/jobs/voice-prompt.ts';
import type { JobRunner, SpeechResult } from '../../src/jobs/types.ts';

describe('promptFromSpeech', () => {
  it.each([
    [' Imagine a lighthouse on a cliff in a storm.', 'a lighthouse on a cliff in a storm'],
    ['Reverie, paint me a picture of a red fox in the snow!', 'a red fox in the snow'],
    ['Hey Revery, generate: a castle made of glass', 'a castle made of glass'],
    ['Um, okay, draw an image of two cats playing chess.', 'two cats playing chess'],
    ['Can you paint a sunset over the sea?', 'a sunset over the sea'],
    ['A quiet forest at dawn.', 'A quiet forest at dawn'],
    ['Paintings of the old masters, in gold', 'Paintings of the old masters, in gold'],
    ['[BLANK_AUDIO]', ''],
    ['Imagine.', ''],
    ['Reverie.', ''],
    ['"Generate a neon city at night"', 'a neon city at night'],
  ])('%j → %j', (spoken, prompt) => expect(promptFromSpeech(spoken)).toBe(prompt));

  it('puts a typed prompt first', () => {
    expect(combinePrompts('oil painting', 'a fox')).toBe('oil painting, a fox');
    expect(combinePrompts(null, 'a fox')).toBe('a fox');
    expect(combinePrompts('a fox', '')).toBe('a fox');
    expect(combinePrompts('oil painting:0.5 | blurry:-1', 'a fox')).toBe('oil painting:0.5 | blurry:-1 | a fox');
  });
});

const result = (text: string, noSpeechProb = 0.01): SpeechResult => ({ text, language: 'en', noSpeechProb, audioSeconds: 3, ms: 120, device: 'cpu' });

describe('judgeSpeech', () => {
  it('paints what is left of intelligible speech; refuses silence and lead-ins alone', () => {
    expect(judgeSpeech(result(' Imagine a red barn.'))).toMatchObject({ ok: true, prompt: 'a red barn', heard: 'Imagine a red barn.' });
    expect(judgeSpeech(result(' you', 0.9))).toMatchObject({ ok: false, reason: 'no_speech' });
    expect(judgeSpeech(result('', 0.1))).toMatchObject({ ok: false, reason: 'no_speech' });
    expect(judgeSpeech(result(' Paint.'))).toMatchObject({ ok: false, reason: 'nothing_left', userMessage: expect.stringContaining('nothing to paint') });
  });
});

describe('Transcriber', () => {
  const runner = (device: string, delayMs = 0, log: string[] = []): JobRunner => ({
    device,
    run: () => Promise.reject(new Error('not here')),
    transcribe: async (req) => {
      log.push(device);
      await new Promise((r) => setTimeout(r, delayMs));
      return { ...result(' Imagine a boat.'), device, audioSeconds: req.pcm.length / 16000 };
    },
  });

  it('prefers an idle device, one clip per member at a time, and keeps stats', async () => {
    const log: string[] = [];
    const t = new Transcriber([runner('cuda:0', 20, log), runner('cuda:1', 20, log)], { busyDevices: () => ['cuda:0'] });
    const a = t.hear('u1', { pcm: new Float32Array(16000) });
    await expect(t.hear('u1', { pcm: new Float32Array(16000) })).rejects.toThrow(TranscriptionRefusedError);
    const b = t.hear('u2', { pcm: new Float32Array(32000) });
    expect((await a).ok && (await b).ok).toBe(true);
    expect(log).toEqual(['cuda:1', 'cuda:0']);
    expect(t.stats()).toMatchObject({ count: 2, failures: 0, medianSec: 0.12 });
  });

  it('says so when no runner can transcribe, and caps the clips waiting', async () => {
    await expect(new Transcriber([{ device: 'cpu', run: () => Promise.reject(new Error()) }]).hear('u', { pcm: new Float32Array(1) })).rejects.toMatchObject({ code: 'unavailable' });
    const t = new Transcriber([runner('cpu', 30)], { maxWaiting: 1 });
    const first = t.hear('a', { pcm: new Float32Array(1) });
    await expect(t.hear('b', { pcm: new Float32Array(1) })).rejects.toMatchObject({ code: 'busy' });
    await first;
  });
});
