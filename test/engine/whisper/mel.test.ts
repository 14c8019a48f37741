import { describe, expect, it } from 'vitest';
import { readNpy } from '../../../src/engine/npy.ts';
import { Fft, MelError, N_FRAMES, N_SAMPLES, logMelSpectrogram, melFilterMatrix, melFilters, padOrTrim, whisperMel } from '../../../src/engine/whisper/mel.ts';
import { maxAbsError } from '../../helpers/compare.ts';
import { whisperFixture } from '../../helpers/fixtures.ts';

function naiveDft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const oRe = new Float64Array(n);
  const oIm = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      oRe[k]! += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      oIm[k]! += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
  }
  return [oRe, oIm];
}

describe('Fft', () => {
  it.each([1, 2, 3, 8, 12, 49, 400, 210])('matches the naive DFT for n = %i', (n) => {
    let seed = n;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const re = Float64Array.from({ length: n }, rnd);
    const im = Float64Array.from({ length: n }, rnd);
    const [wRe, wIm] = naiveDft(re, im);
    const oRe = new Float64Array(n);
    const oIm = new Float64Array(n);
    new Fft(n).transform(re, im, oRe, oIm);
    for (let k = 0; k < n; k++) {
      expect(oRe[k]).toBeCloseTo(wRe[k]!, 9);
      expect(oIm[k]).toBeCloseTo(wIm[k]!, 9);
    }
  });
});

describe('mel filters', () => {
  it('are triangles over the FFT bins with Slaney area normalisation', () => {
    const m = melFilterMatrix(80);
    expect(m.length).toBe(80 * 201);
    const filters = melFilters(80);
    // Every band has weight somewhere, and its weights sit in one contiguous run of bins.
    for (const f of filters) {
      expect(f.weights.length).toBeGreaterThan(0);
      expect(f.weights.every((w) => w >= 0)).toBe(true);
    }
    // Values librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) gives (whisper's mel_filters.npz).
    expect(m[0 * 201 + 1]).toBe(Math.fround(0.02486259490251541));
    expect(m[79 * 201 + 199]).toBeGreaterThan(0);
    expect(melFilterMatrix(128).length).toBe(128 * 201);
  });
});

describe('log-Mel spectrogram', () => {
  it('pads or trims to 30 s', () => {
    expect(padOrTrim(new Float32Array(10)).length).toBe(N_SAMPLES);
    expect(padOrTrim(new Float32Array(N_SAMPLES + 5)).length).toBe(N_SAMPLES);
    const x = Float32Array.of(1, 2, 3);
    expect([...padOrTrim(x, 5)]).toEqual([1, 2, 3, 0, 0]);
  });

  it('gives floor(len / 160) frames and refuses audio too short to reflect or not finite', () => {
    const m = logMelSpectrogram(new Float32Array(1000).map((_, i) => Math.sin(i / 3)), { padding: 600 });
    expect(m.frames).toBe(10);
    expect(m.data.length).toBe(800);
    expect(() => logMelSpectrogram(new Float32Array(100))).toThrow(MelError);
    expect(() => logMelSpectrogram(Float32Array.of(...new Array(300).fill(0), NaN))).toThrow(/not finite/);
  });

  it('silence is flat at the floor: (log10(1e-10) + 4) / 4', () => {
    const m = whisperMel(new Float32Array(16000));
    expect(m.frames).toBe(N_FRAMES);
    expect(m.data.every((v) => v === -1.5)).toBe(true);
  });

  it('matches log_mel_spectrogram(pad_or_trim(jfk)) of the official code', () => {
    const pcm = readNpy(whisperFixture('cases', 'pcm16k.npy')).data as Float32Array;
    const want = readNpy(whisperFixture('cases', 'mel.npy'));
    const got = whisperMel(pcm);
    expect([got.nMels, got.frames]).toEqual(want.shape);
    const { err, bound } = maxAbsError(got.data, want.data as Float32Array);
    expect(err).toBeLessThanOrEqual(bound);
  });
});
