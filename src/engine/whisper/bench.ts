/**
 * Whisper at the released sizes with random weights (shapes cost time, values do not): the cost of one
 * 30-second window (mel, encoder, start sequence and a number of cached decoder steps), for
 * `npm run bench` and the real-size test.
 */
import { Prng } from '../generate/prng.ts';
import { ParamStore, type ParamArray } from '../models/params.ts';
import type { Device } from '../graph/index.ts';
import { expectedWhisperTensors, type WhisperDims } from './checkpoint.ts';
import { whisperMel } from './mel.ts';
import { WhisperModel } from './model.ts';
import { WhisperSessions } from './session.ts';

/** The dims of the released multilingual checkpoints. */
export const WHISPER_SIZES = {
  tiny: { state: 384, heads: 6, layers: 4 },
  base: { state: 512, heads: 8, layers: 6 },
  small: { state: 768, heads: 12, layers: 12 },
} as const;
export type WhisperSize = keyof typeof WHISPER_SIZES;

export function whisperDims(size: WhisperSize): WhisperDims {
  const s = WHISPER_SIZES[size];
  return {
    nMels: 80,
    nAudioCtx: 1500,
    nAudioState: s.state,
    nAudioHead: s.heads,
    nAudioLayer: s.layers,
    nVocab: 51865,
    nTextCtx: 448,
    nTextState: s.state,
    nTextHead: s.heads,
    nTextLayer: s.layers,
  };
}

/** model.py sinusoids(length, channels): the encoder's fixed positional embedding. */
export function sinusoids(length: number, channels: number, maxTimescale = 10000): Float32Array {
  const half = channels / 2;
  const inc = Math.log(maxTimescale) / (half - 1);
  const out = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      const x = t * Math.exp(-inc * i);
      out[t * channels + i] = Math.sin(x);
      out[t * channels + half + i] = Math.cos(x);
    }
  }
  return out;
}

/** Random weights under the checkpoint's names: uniform(±1/√fan-in), norm weights 1 ± 0.05, other vectors ± 0.05. */
export function randomWhisperModel(dims: WhisperDims, seed = 1): WhisperModel {
  const rng = new Prng(seed);
  const arrays = new Map<string, ParamArray>();
  for (const [name, shape] of expectedWhisperTensors(dims)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name === 'encoder.positional_embedding') {
      data = sinusoids(dims.nAudioCtx, dims.nAudioState);
    } else {
      data = new Float32Array(n);
      const isNormWeight = /_ln\.weight$|ln_post\.weight$|decoder\.ln\.weight$/.test(name);
      const bound = shape.length >= 2 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 0.05;
      for (let i = 0; i < n; i++) data[i] = (isNormWeight ? 1 : 0) + (rng.uniform() * 2 - 1) * bound;
    }
    const conv = name === 'encoder.conv1.weight' || name === 'encoder.conv2.weight';
    arrays.set(name, { data, shape: conv ? [shape[0]!, shape[1]!, 1, 3] : shape });
  }
  return new WhisperModel(new ParamStore(arrays, `random whisper (seed ${seed})`), dims);
}

export interface WhisperBenchOptions {
  size?: WhisperSize;
  /** decoder steps after the 4-token start sequence (default 100: about 30 s of speech) */
  tokens?: number;
  device?: Device;
  threads?: number;
}

export interface WhisperBenchReport {
  size: WhisperSize;
  dims: WhisperDims;
  params: number;
  tokens: number;
  seconds: { weights: number; sessions: number; mel: number; encode: number; decode: number; perStep: number; window: number };
  /** process CPU time (user + system, all threads) of the same window phases: wall time on a busy machine says little */
  cpuSeconds: { mel: number; encode: number; decode: number; window: number };
  peakRssMiB: number;
  finite: boolean;
}

const now = () => performance.now() / 1000;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Builds the sessions once, then times one window: mel + encoder + 4 start tokens + `tokens` argmax steps. */
export async function benchWhisperWindow(opts: WhisperBenchOptions = {}): Promise<WhisperBenchReport> {
  const size = opts.size ?? 'base';
  const dims = whisperDims(size);
  const steps = opts.tokens ?? 100;
  const t0 = now();
  const model = randomWhisperModel(dims);
  const t1 = now();
  const sessions = await WhisperSessions.create(model, { ...(opts.device ? { device: opts.device } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
  const t2 = now();
  const c2 = cpu();
  let finite = true;
  try {
    const rng = new Prng(7);
    const pcm = Float32Array.from({ length: 30 * 16000 }, () => (rng.uniform() * 2 - 1) * 0.1);
    const mel = whisperMel(pcm, dims.nMels);
    const t3 = now();
    const c3 = cpu();
    const audio = await sessions.encode(mel.data);
    const t4 = now();
    const c4 = cpu();
    const cache = sessions.newCache();
    let token = 50258;
    const start = [50258, 50259, 50359, 50363];
    for (let i = 0; i < start.length + steps; i++) {
      const logits = await sessions.decodeStep([i < start.length ? start[i]! : token], cache, audio);
      let best = 0;
      for (let k = 1; k < 50257; k++) if (logits[k]! > logits[best]!) best = k;
      if (!Number.isFinite(logits[best]!)) finite = false;
      token = best;
    }
    const t5 = now();
    const c5 = cpu();
    for (let i = 0; i < audio.audio.length && finite; i += 997) if (!Number.isFinite(audio.audio[i]!)) finite = false;
    return {
      size,
      dims,
      params: model.params.bytes() / 4,
      tokens: steps,
      seconds: {
        weights: t1 - t0,
        sessions: t2 - t1,
        mel: t3 - t2,
        encode: t4 - t3,
        decode: t5 - t4,
        perStep: (t5 - t4) / (start.length + steps),
        window: t5 - t2,
      },
      cpuSeconds: { mel: c3 - c2, encode: c4 - c3, decode: c5 - c4, window: c5 - c2 },
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      finite,
    };
  } finally {
    await sessions.release();
  }
}
