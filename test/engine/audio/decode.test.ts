/**
 * Audio in: real speech made at test time (espeak-ng → WAV; opusenc → Ogg/Opus like a Discord voice
 * message), decoded here and resampled to 16 kHz, against opusdec's own decode resampled by the speex
 * resampler (`opusdec --rate 16000 --float`).
 *
 * Tolerances. Against speex: ≤ 3 % relative RMS (measured 1.0 %): the two low-passes differ only in
 * their transition bands (ours: −0.1 dB at 7 kHz, −6 dB at 7.6 kHz, ≥ 85 dB down from 8 kHz on; speex
 * at quality 10 sits a little higher), where espeak's speech carries about 1 % of its energy, plus
 * opusscript's 16-bit output (−96 dB). Against the exact answer (tones below 6 kHz, sampled directly at
 * 16 kHz): ≤ 1e-4 (measured 1.5–2.7e-5): the pass-band ripple of a Kaiser window with β = 8.6 is about
 * 85 dB down (6e-5) and float32 sums add 1e-6; tones above 8 kHz: ≥ 80 dB down.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioError, decodeAudio, decodeWav, encodeWav, oggPackets, resample, sniffAudio } from '../../../src/engine/audio/index.ts';
import { haveSpeechTools, makeSpeech, relRms, type SpeechFiles } from '../../helpers/speech.ts';

const tone = (freqs: number[], rate: number, n: number) => {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) for (const f of freqs) x[i]! += (0.2 * Math.sin((2 * Math.PI * f * i) / rate)) / freqs.length;
  return x;
};

describe('resample', () => {
  it.each([22050, 44100, 48000, 8000, 24000])('%i Hz → 16 kHz: tones below 6 kHz exact within 1e-4, above 8 kHz ≥ 80 dB down', (from) => {
    const n = from * 2;
    const pass = [220, 1000, 3100, 5900].filter((f) => f < from / 2);
    const y = resample(tone(pass, from, n), from, 16000);
    expect(y.length).toBe(32000);
    const ideal = tone(pass, 16000, 32000);
    const edge = 1600; // the kernel's half width, with margin: the ends see zeros outside the clip
    expect(relRms(y.subarray(edge, -edge), ideal.subarray(edge, -edge))).toBeLessThan(1e-4);
    for (const f of [8500, 10000, 15000].filter((f) => f < from / 2)) {
      const s = resample(tone([f], from, n), from, 16000).subarray(edge, -edge);
      const rms = Math.sqrt(s.reduce((a, v) => a + v * v, 0) / s.length);
      expect(20 * Math.log10(rms / (0.2 / Math.SQRT2))).toBeLessThan(-80);
    }
  });

  it('keeps the rate unchanged as a copy', () => {
    const x = tone([440], 16000, 100);
    expect(resample(x, 16000, 16000)).toEqual(x);
  });
});

describe('WAV', () => {
  it('reads PCM16 and float32 written by encodeWav, and refuses what is not WAV', () => {
    const x = tone([440], 16000, 1600);
    const f = decodeWav(encodeWav(x, 16000, 'float32'));
    expect(f.sampleRate).toBe(16000);
    expect(f.samples).toEqual(x);
    const i = decodeWav(encodeWav(x, 16000, 'pcm16'));
    expect(relRms(i.samples, x)).toBeLessThan(1e-4);
    expect(sniffAudio(Buffer.from('hello world, not audio'))).toBeUndefined();
    expect(sniffAudio(Buffer.from('ID3\x04\x00\x00'))).toBe('other-audio');
    expect(() => decodeAudio(Buffer.from('%PDF-1.7 this is a document'))).toThrow(AudioError);
  });
});

describe.skipIf(!haveSpeechTools)('real speech (espeak-ng, opus-tools)', () => {
  let s: SpeechFiles;
  let ref: Float32Array;
  beforeAll(() => {
    s = makeSpeech('Imagine a lighthouse on a cliff in a storm, painted in oil.');
    ref = decodeWav(fs.readFileSync(s.ref16k)).samples;
  });
  afterAll(() => fs.rmSync(s.dir, { recursive: true, force: true }));

  it('an Ogg/Opus voice message decodes and resamples to 16 kHz like opusdec + speex (≤ 3 %)', () => {
    const bytes = fs.readFileSync(s.ogg);
    expect(sniffAudio(bytes)).toBe('ogg-opus');
    const a = decodeAudio(bytes);
    expect(a).toMatchObject({ format: 'ogg-opus', sampleRate: 48000, channels: 1 });
    expect(a.pcm.length).toBe(ref.length);
    const err = relRms(a.pcm, ref);
    expect(err).toBeLessThan(0.03);
    // aligned: a one-sample shift is far worse, so the pre-skip and the filter delay are right
    expect(relRms(a.pcm, ref, 1)).toBeGreaterThan(10 * err);
  });

  it('a float WAV at 48 kHz and espeak-ng\'s PCM16 WAV at 22.05 kHz decode and resample', () => {
    const f = decodeAudio(fs.readFileSync(s.wav48kFloat));
    expect(f).toMatchObject({ format: 'wav', sampleRate: 48000 });
    expect(relRms(f.pcm, ref)).toBeLessThan(0.03);
    const w = decodeAudio(fs.readFileSync(s.wav22k));
    expect(w).toMatchObject({ format: 'wav', sampleRate: 22050, channels: 1 });
    expect(Math.abs(w.seconds - f.seconds)).toBeLessThan(0.03);
    // the same speech: the Opus round trip and the two resamplers keep it within a few per cent
    expect(relRms(w.pcm, ref)).toBeLessThan(0.3);
  });

  it('refuses a clip over the limit from its header, and a damaged Ogg page', () => {
    const bytes = fs.readFileSync(s.ogg);
    expect(() => decodeAudio(bytes, { maxSeconds: 2 })).toThrow(/limit is 2 s/);
    expect(() => decodeAudio(fs.readFileSync(s.wav22k), { maxSeconds: 2 })).toThrow(expect.objectContaining({ code: 'too_long' }));
    const bad = Buffer.from(bytes);
    bad[bad.length - 10]! ^= 0xff;
    expect(() => oggPackets(bad)).toThrow(/checksum/);
  });
});
