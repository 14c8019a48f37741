/**
 * Band-limited resampling between any two rates with a Kaiser-windowed sinc (polyphase when the ratio
 * is rational with a small numerator, as 48 k → 16 k (1/3) and 44.1 k → 16 k (160/441) are). The
 * low-pass sits at ROLLOFF × the lower Nyquist frequency (7.6 kHz for 16 kHz output), so nothing above
 * 8 kHz folds back into speech: β = 8.6 gives about 85 dB of stop-band attenuation, and 24 zero
 * crossings per side make the transition band about 0.1 × Nyquist wide.
 */
export const ROLLOFF = 0.95;
export const ZERO_CROSSINGS = 24;
export const KAISER_BETA = 8.6;

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) * (x / (2 * k));
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Resamples mono samples from `from` Hz to `to` Hz; output length round(n × to / from). */
export function resample(x: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return Float32Array.from(x);
  const g = gcd(from, to);
  const up = to / g; // output samples per `down` input samples
  const down = from / g;
  const n = Math.round((x.length * to) / from);
  const out = new Float32Array(n);
  // cutoff in cycles per input sample; kernel half width in input samples
  const fc = (ROLLOFF * Math.min(1, to / from)) / 2;
  const half = Math.ceil(ZERO_CROSSINGS / (2 * fc));
  const taps = 2 * half + 1;
  const i0b = besselI0(KAISER_BETA);
  const kernel = (t: number): number => {
    const r = t / (half + 1);
    if (Math.abs(r) >= 1) return 0;
    const sinc = t === 0 ? 1 : Math.sin(2 * Math.PI * fc * t) / (Math.PI * t);
    return (t === 0 ? 2 * fc : sinc) * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0b);
  };
  // one table per phase (output index mod `up`) when that is affordable, else computed per sample
  const phases = up <= 1024 ? up : 0;
  const table: Float32Array[] = [];
  for (let p = 0; p < phases; p++) {
    const pos = (p * down) / up;
    const frac = pos - Math.floor(pos);
    const row = new Float32Array(taps);
    for (let k = 0; k < taps; k++) row[k] = kernel(frac + half - k);
    table.push(row);
  }
  const row = new Float32Array(taps);
  for (let j = 0; j < n; j++) {
    const pos = (j * from) / to;
    const base = Math.floor(pos);
    let h: Float32Array;
    if (phases) h = table[j % up]!;
    else {
      const frac = pos - base;
      for (let k = 0; k < taps; k++) row[k] = kernel(frac + half - k);
      h = row;
    }
    let s = 0;
    const start = base - half;
    if (start >= 0 && start + taps <= x.length) {
      for (let k = 0; k < taps; k++) s += x[start + k]! * h[k]!;
    } else {
      for (let k = 0; k < taps; k++) {
        const i = start + k;
        if (i >= 0 && i < x.length) s += x[i]! * h[k]!;
      }
    }
    out[j] = s;
  }
  return out;
}
