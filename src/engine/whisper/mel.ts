/**
 * Whisper's log-Mel front end (whisper/audio.py), computed on the host in float64: a centred STFT
 * (n_fft 400, hop 160, periodic Hann, reflect padding), |X|², librosa's Slaney mel filter bank,
 * log10 with a 1e-10 floor, a floor at max − 8 and (x + 4) / 4.
 */

export const SAMPLE_RATE = 16000;
export const N_FFT = 400;
export const HOP_LENGTH = 160;
export const CHUNK_LENGTH = 30;
/** samples in a 30-second window */
export const N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE;
/** mel frames in a 30-second window */
export const N_FRAMES = N_SAMPLES / HOP_LENGTH;

export class MelError extends Error {
  override name = 'MelError';
}

/** The first `length` samples, zero-padded at the end when shorter (audio.py pad_or_trim). */
export function padOrTrim(pcm: Float32Array, length = N_SAMPLES): Float32Array {
  if (pcm.length === length) return pcm;
  if (pcm.length > length) return pcm.subarray(0, length);
  const out = new Float32Array(length);
  out.set(pcm);
  return out;
}

// ------------------------------------------------------------------------------------- mel filters

// librosa's Slaney mel scale: linear below 1 kHz, logarithmic above.
const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOGSTEP = Math.log(6.4) / 27;

function hzToMel(f: number): number {
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOGSTEP : f / F_SP;
}

function melToHz(m: number): number {
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

/** np.linspace(start, stop, num) as NumPy computes it (the last point is exactly `stop`). */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  out[num - 1] = stop;
  return out;
}

/** One mel filter: its non-zero weights start at FFT bin `start`. */
export interface MelFilter {
  start: number;
  weights: Float32Array;
}

const filterCache = new Map<string, MelFilter[]>();

/**
 * librosa.filters.mel(sr, n_fft, n_mels) with its defaults (fmin 0, fmax sr/2, Slaney scale and
 * area normalisation, float32), the matrix whisper ships in mel_filters.npz. The float32 roundings
 * follow librosa's: each row is stored in float32, then scaled in float64 and stored again.
 */
export function melFilters(nMels = 80, sampleRate = SAMPLE_RATE, nFft = N_FFT): MelFilter[] {
  const key = `${nMels}/${sampleRate}/${nFft}`;
  const cached = filterCache.get(key);
  if (cached) return cached;
  const bins = 1 + Math.floor(nFft / 2);
  const val = 1 / (nFft * (1 / sampleRate));
  const fftFreqs = Array.from({ length: bins }, (_, i) => i * val);
  const melF = linspace(hzToMel(0), hzToMel(sampleRate / 2), nMels + 2).map(melToHz);
  const filters: MelFilter[] = [];
  for (let i = 0; i < nMels; i++) {
    const lowDiff = melF[i + 1]! - melF[i]!;
    const highDiff = melF[i + 2]! - melF[i + 1]!;
    const enorm = 2 / (melF[i + 2]! - melF[i]!);
    const row = fftFreqs.map((f) => {
      const lower = -(melF[i]! - f) / lowDiff;
      const upper = (melF[i + 2]! - f) / highDiff;
      return Math.fround(Math.fround(Math.max(0, Math.min(lower, upper))) * enorm);
    });
    let start = row.findIndex((w) => w !== 0);
    if (start < 0) start = 0;
    let end = row.length;
    while (end > start && row[end - 1] === 0) end--;
    filters.push({ start, weights: Float32Array.from(row.slice(start, end)) });
  }
  filterCache.set(key, filters);
  return filters;
}

/** The filter bank as a dense float32 [nMels, 1 + nFft/2] matrix. */
export function melFilterMatrix(nMels = 80, sampleRate = SAMPLE_RATE, nFft = N_FFT): Float32Array {
  const bins = 1 + Math.floor(nFft / 2);
  const out = new Float32Array(nMels * bins);
  melFilters(nMels, sampleRate, nFft).forEach((f, m) => out.set(f.weights, m * bins + f.start));
  return out;
}

// --------------------------------------------------------------------------------------------- FFT

/** A complex FFT of one fixed size by mixed-radix Cooley–Tukey (any size; fast when it factors into small primes). */
export class Fft {
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly factors: number[] = [];

  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) throw new MelError(`FFT size must be a positive integer, got ${n}`);
    this.cos = new Float64Array(n);
    this.sin = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      this.cos[j] = Math.cos((2 * Math.PI * j) / n);
      this.sin[j] = -Math.sin((2 * Math.PI * j) / n);
    }
    let rest = n;
    for (const p of [4, 2, 3, 5]) {
      while (rest % p === 0) {
        this.factors.push(p);
        rest /= p;
      }
    }
    for (let p = 7; rest > 1; p += 2) {
      while (rest % p === 0) {
        this.factors.push(p);
        rest /= p;
      }
    }
  }

  /** Transforms (re, im) of length n into (outRe, outIm): X[k] = Σ x[j]·e^(−2πi jk/n). */
  transform(re: Float64Array, im: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.rec(this.n, re, im, 0, 1, outRe, outIm, 0, 0);
  }

  private rec(n: number, re: Float64Array, im: Float64Array, inOff: number, stride: number, oRe: Float64Array, oIm: Float64Array, outOff: number, fi: number): void {
    if (n === 1) {
      oRe[outOff] = re[inOff]!;
      oIm[outOff] = im[inOff]!;
      return;
    }
    const p = this.factors[fi]!;
    const m = n / p;
    for (let r = 0; r < p; r++) this.rec(m, re, im, inOff + r * stride, stride * p, oRe, oIm, outOff + r * m, fi + 1);
    // Butterflies of size p: X[k + m·q] = Σ_r W_n^(r·(k + m·q)) · Y_r[k], Y_r the sub-transforms.
    const scale = this.n / n;
    const tRe = new Float64Array(p);
    const tIm = new Float64Array(p);
    for (let k = 0; k < m; k++) {
      for (let r = 0; r < p; r++) {
        tRe[r] = oRe[outOff + r * m + k]!;
        tIm[r] = oIm[outOff + r * m + k]!;
      }
      for (let q = 0; q < p; q++) {
        const kk = k + m * q;
        let sRe = tRe[0]!;
        let sIm = tIm[0]!;
        for (let r = 1; r < p; r++) {
          const w = ((r * kk) % n) * scale;
          const c = this.cos[w]!;
          const s = this.sin[w]!;
          sRe += tRe[r]! * c - tIm[r]! * s;
          sIm += tRe[r]! * s + tIm[r]! * c;
        }
        oRe[outOff + kk] = sRe;
        oIm[outOff + kk] = sIm;
      }
    }
  }
}

// ------------------------------------------------------------------------------------- spectrogram

export interface LogMelOptions {
  /** 80 (every model but large-v3) or 128 */
  nMels?: number;
  /** zero samples appended before the STFT (transcribe passes N_SAMPLES) */
  padding?: number;
}

export interface LogMel {
  /** float32 [nMels, frames], row-major */
  data: Float32Array;
  nMels: number;
  frames: number;
}

/**
 * log_mel_spectrogram(audio, n_mels, padding) of mono 16 kHz samples: [nMels, floor((len + padding) / 160)].
 * The floor at max − 8 is taken over the whole input, as the reference does.
 */
export function logMelSpectrogram(pcm: Float32Array, opts: LogMelOptions = {}): LogMel {
  const nMels = opts.nMels ?? 80;
  const padding = opts.padding ?? 0;
  const len = pcm.length + padding;
  const half = N_FFT / 2;
  if (len <= half) throw new MelError(`audio of ${len} samples is too short for the STFT (needs more than ${half})`);
  for (let i = 0; i < pcm.length; i++) {
    if (!Number.isFinite(pcm[i]!)) throw new MelError(`audio sample ${i} is not finite (${pcm[i]})`);
  }
  const sample = (i: number): number => (i < pcm.length ? pcm[i]! : 0);
  // torch.stft(center=True) reflects the signal about its ends; the last frame is dropped as whisper does.
  const reflected = (i: number): number => sample(i < 0 ? -i : i >= len ? 2 * (len - 1) - i : i);
  const frames = Math.floor(len / HOP_LENGTH);
  const bins = half + 1;
  const window = new Float64Array(N_FFT);
  for (let i = 0; i < N_FFT; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / N_FFT);
  const filters = melFilters(nMels);
  const fft = new Fft(N_FFT);
  const re = new Float64Array(N_FFT);
  const im = new Float64Array(N_FFT);
  const oRe = new Float64Array(N_FFT);
  const oIm = new Float64Array(N_FFT);
  const power = new Float64Array(bins);
  const logSpec = new Float64Array(nMels * frames);
  let max = -Infinity;
  for (let t = 0; t < frames; t++) {
    const begin = t * HOP_LENGTH - half;
    for (let i = 0; i < N_FFT; i++) {
      const j = begin + i;
      re[i] = (j >= 0 && j < pcm.length ? pcm[j]! : reflected(j)) * window[i]!;
    }
    im.fill(0);
    fft.transform(re, im, oRe, oIm);
    for (let k = 0; k < bins; k++) power[k] = oRe[k]! * oRe[k]! + oIm[k]! * oIm[k]!;
    for (let m = 0; m < nMels; m++) {
      const f = filters[m]!;
      let s = 0;
      for (let k = 0; k < f.weights.length; k++) s += f.weights[k]! * power[f.start + k]!;
      const v = Math.log10(Math.max(s, 1e-10));
      logSpec[m * frames + t] = v;
      if (v > max) max = v;
    }
  }
  const floor = max - 8;
  const data = new Float32Array(nMels * frames);
  for (let i = 0; i < data.length; i++) data[i] = (Math.max(logSpec[i]!, floor) + 4) / 4;
  return { data, nMels, frames };
}

/** The encoder's input for one 30-second window: log_mel_spectrogram(pad_or_trim(pcm)) → [nMels, 3000]. */
export function whisperMel(pcm: Float32Array, nMels = 80): LogMel {
  return logMelSpectrogram(padOrTrim(pcm), { nMels });
}
