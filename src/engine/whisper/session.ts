/**
 * ONNX Runtime sessions for Whisper: one for the encoder (with the decoder's cross-attention keys and
 * values), one for a decoder step with a key/value cache kept on the host.
 */
import { Graph, Session, serialize, type Device } from '../graph/index.ts';
import type { WhisperDims } from './checkpoint.ts';
import type { WhisperModel } from './model.ts';

export interface WhisperSessionOptions {
  device?: Device;
  threads?: number;
  /** audio windows decoded together (default 1) */
  batch?: number;
}

/** One window's encoder output and the per-layer cross-attention keys (kT) and values (v). */
export interface EncodedAudio {
  /** float32 [N, n_audio_ctx, n_audio_state] */
  audio: Float32Array;
  cross: { kT: Float32Array; v: Float32Array }[];
}

/** Self-attention keys and values of the positions decoded so far, for each decoder layer. */
export class DecoderCache {
  /** positions filled */
  length = 0;
  readonly layers: { kT: Float32Array; v: Float32Array }[];

  constructor(
    readonly batch: number,
    readonly heads: number,
    readonly headDim: number,
    /** capacity: the text context */
    readonly capacity: number,
    nLayers: number,
  ) {
    const size = batch * heads * headDim * capacity;
    this.layers = Array.from({ length: nLayers }, () => ({ kT: new Float32Array(size), v: new Float32Array(size) }));
  }

  /** Additive mask over the cache and the new position: 0 where attended, −∞ elsewhere. */
  mask(): Float32Array {
    const m = new Float32Array(this.capacity + 1).fill(-Infinity);
    m.fill(0, 0, this.length);
    m[this.capacity] = 0;
    return m;
  }

  /** Writes the new position's keys (kT [N,H,Dh,1]) and values (v [N,H,1,Dh]) of layer i. */
  append(i: number, kT: Float32Array, v: Float32Array): void {
    const { kT: ck, v: cv } = this.layers[i]!;
    const p = this.length;
    const L = this.capacity;
    const dh = this.headDim;
    for (let nh = 0; nh < this.batch * this.heads; nh++) {
      for (let d = 0; d < dh; d++) {
        ck[(nh * dh + d) * L + p] = kT[nh * dh + d]!;
        cv[(nh * L + p) * dh + d] = v[nh * dh + d]!;
      }
    }
  }
}

export class WhisperSessions {
  private constructor(
    readonly model: WhisperModel,
    readonly batch: number,
    private readonly encoder: Session,
    private readonly step: Session,
  ) {}

  get dims(): WhisperDims {
    return this.model.dims;
  }

  static async create(model: WhisperModel, opts: WhisperSessionOptions = {}): Promise<WhisperSessions> {
    const batch = opts.batch ?? 1;
    const so = { device: opts.device ?? 'cpu', ...(opts.threads ? { threads: opts.threads } : {}) };
    const encoder = await Session.create(serialize(encoderGraph(model, batch, true), { name: 'whisper_encoder' }), so);
    try {
      const step = await Session.create(serialize(stepGraph(model, batch), { name: 'whisper_decoder_step' }), so);
      return new WhisperSessions(model, batch, encoder, step);
    } catch (err) {
      await encoder.release();
      throw err;
    }
  }

  /** mel float32 [N, n_mels, 2·n_audio_ctx] → audio features and cross-attention keys/values. */
  async encode(mel: Float32Array): Promise<EncodedAudio> {
    const out = await this.encoder.run({ mel });
    const cross = Array.from({ length: this.dims.nTextLayer }, (_, i) => ({
      kT: out[`cross_k_${i}`] as Float32Array,
      v: out[`cross_v_${i}`] as Float32Array,
    }));
    return { audio: out.audio as Float32Array, cross };
  }

  newCache(): DecoderCache {
    const d = this.dims;
    return new DecoderCache(this.batch, d.nTextHead, d.nTextState / d.nTextHead, d.nTextCtx, d.nTextLayer);
  }

  /** Feeds one token per batch row at position cache.length; returns the logits [N, vocab] and advances the cache. */
  async decodeStep(tokens: readonly number[], cache: DecoderCache, audio: EncodedAudio): Promise<Float32Array> {
    if (tokens.length !== this.batch) throw new Error(`decodeStep: ${tokens.length} tokens for a batch of ${this.batch}`);
    if (cache.length >= cache.capacity) throw new Error(`decodeStep: the text context of ${cache.capacity} tokens is full`);
    const feeds: Record<string, Float32Array | BigInt64Array> = {
      tokens: BigInt64Array.from(tokens, (t) => BigInt(t)),
      position: BigInt64Array.of(BigInt(cache.length)),
      mask: cache.mask(),
    };
    cache.layers.forEach((l, i) => {
      feeds[`self_k_${i}`] = l.kT;
      feeds[`self_v_${i}`] = l.v;
      feeds[`cross_k_${i}`] = audio.cross[i]!.kT;
      feeds[`cross_v_${i}`] = audio.cross[i]!.v;
    });
    const out = await this.step.run(feeds);
    cache.layers.forEach((_, i) => cache.append(i, out[`new_k_${i}`] as Float32Array, out[`new_v_${i}`] as Float32Array));
    cache.length++;
    return out.logits as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.step.release()]);
  }
}

/** mel [N, n_mels, 2·ctx] → audio [N, ctx, D] (+ cross_k_i / cross_v_i per decoder layer when asked). */
export function encoderGraph(model: WhisperModel, batch: number, withCross: boolean): Graph {
  const d = model.dims;
  const g = new Graph();
  const mel = g.input('mel', [batch, d.nMels, 2 * d.nAudioCtx]);
  const audio = model.encode(g, mel);
  g.output(audio, 'audio');
  if (withCross) {
    model.crossKeysValues(g, audio).forEach((kv, i) => {
      g.output(kv.kT, `cross_k_${i}`);
      g.output(kv.v, `cross_v_${i}`);
    });
  }
  return g;
}

/** tokens [N,T] + audio [N,ctx,D] → logits [N,T,vocab], no cache. */
export function logitsGraph(model: WhisperModel, batch: number, nTokens: number): Graph {
  const d = model.dims;
  const g = new Graph();
  const tokens = g.input('tokens', [batch, nTokens], 'int64');
  const audio = g.input('audio', [batch, d.nAudioCtx, d.nAudioState]);
  g.output(model.decode(g, tokens, audio), 'logits');
  return g;
}

/** The one-token decoder step over a cache of n_text_ctx positions (see DecoderCache). */
export function stepGraph(model: WhisperModel, batch: number): Graph {
  const d = model.dims;
  const h = d.nTextHead;
  const dh = d.nTextState / h;
  const L = d.nTextCtx;
  const S = d.nAudioCtx;
  const g = new Graph();
  const tokens = g.input('tokens', [batch, 1], 'int64');
  const position = g.input('position', [1], 'int64');
  const mask = g.input('mask', [L + 1]);
  const self = [];
  const cross = [];
  for (let i = 0; i < d.nTextLayer; i++) {
    self.push({ kT: g.input(`self_k_${i}`, [batch, h, dh, L]), v: g.input(`self_v_${i}`, [batch, h, L, dh]) });
    cross.push({ kT: g.input(`cross_k_${i}`, [batch, h, dh, S]), v: g.input(`cross_v_${i}`, [batch, h, S, dh]) });
  }
  const { logits, newKV } = model.decodeStep(g, tokens, { self, cross, mask, position });
  g.output(logits, 'logits');
  newKV.forEach((kv, i) => {
    g.output(kv.kT, `new_k_${i}`);
    g.output(kv.v, `new_v_${i}`);
  });
  return g;
}
