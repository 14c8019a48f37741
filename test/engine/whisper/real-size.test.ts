/**
 * Whisper base (the default) at its real size with random weights: sessions build, one 30-second
 * window runs end to end (mel, encoder, start sequence and cached decoder steps) with finite outputs, and
 * (with REVERIE_SLOW_TESTS=1, another ~20 s) the cached one-token steps give the same logits as the
 * whole-prompt decoder. The timings go to the note through `npm run bench`; this only checks that the
 * sizes work.
 */
import { describe, expect, it } from 'vitest';
import { Session, serialize } from '../../../src/engine/graph/index.ts';
import { benchWhisperWindow, randomWhisperModel, sinusoids, whisperDims } from '../../../src/engine/whisper/bench.ts';
import { WhisperSessions, logitsGraph } from '../../../src/engine/whisper/session.ts';
import { maxAbsError } from '../../helpers/compare.ts';

const SLOW = process.env.REVERIE_SLOW_TESTS === '1';

describe('Whisper base with random weights', () => {
  it('runs a 30-second window: mel, encoder and 4 + 4 cached decoder steps', async () => {
    const r = await benchWhisperWindow({ size: 'base', tokens: 4 });
    expect(r.dims).toEqual(whisperDims('base'));
    expect(r.params).toBe(72_593_920);
    expect(r.finite).toBe(true);
    expect(r.seconds.window).toBeGreaterThan(0);
  }, 300_000);

  it.skipIf(!SLOW)('cached steps agree with the whole-prompt decoder at the real width', async () => {
    const model = randomWhisperModel(whisperDims('base'), 3);
    const sessions = await WhisperSessions.create(model, { threads: 2 });
    try {
      const mel = Float32Array.from({ length: 80 * 3000 }, (_, i) => Math.sin(i * 0.37) * 0.5);
      const audio = await sessions.encode(mel);
      const prompt = [50258, 50259, 50359, 50363, 3863, 406];
      const cache = sessions.newCache();
      const V = model.dims.nVocab;
      const stepped = new Float32Array(prompt.length * V);
      for (let i = 0; i < prompt.length; i++) stepped.set(await sessions.decodeStep([prompt[i]!], cache, audio), i * V);
      const whole = await Session.create(serialize(logitsGraph(model, 1, prompt.length)), { threads: 2 });
      try {
        const o = await whole.run({ tokens: BigInt64Array.from(prompt, BigInt), audio: audio.audio });
        const { err, bound } = maxAbsError(stepped, o.logits as Float32Array);
        expect(err).toBeLessThanOrEqual(bound);
      } finally {
        await whole.release();
      }
    } finally {
      await sessions.release();
    }
  }, 300_000);

  it('sinusoids are model.py’s: sin then cos halves, timescales 1 … 10000', () => {
    const s = sinusoids(3, 8);
    expect(s[0]).toBe(0); // sin(0)
    expect(s[4]).toBe(1); // cos(0)
    expect(s[8 + 0]).toBeCloseTo(Math.sin(1), 6);
    expect(s[8 + 3]).toBeCloseTo(Math.sin(1e-4), 9);
    expect(s[16 + 7]).toBeCloseTo(Math.cos(2e-4), 6);
  });
});
