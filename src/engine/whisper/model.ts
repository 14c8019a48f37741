/**
 * Whisper's encoder and decoder (whisper/model.py) as graphs. Batch N is static like every shape here.
 *
 * Decoding uses a key/value cache: the encoder graph can also emit each decoder layer's cross-attention
 * keys and values (computed once per window), and a one-token step graph takes the self-attention cache
 * of the earlier positions as inputs and returns the new position's keys and values, which the host
 * writes into the cache (see session.ts).
 */
import {
  GraphError,
  add,
  concat,
  conv2d,
  erf,
  gather,
  gemm,
  layerNorm,
  linear,
  matmul,
  mul,
  reshape,
  slice,
  softmax,
  transpose,
  type Graph,
  type Tensor,
} from '../graph/index.ts';
import type { ParamStore } from '../models/params.ts';
import type { WhisperDims } from './checkpoint.ts';

/** torch.nn.GELU(): the exact, erf-based one. */
export function gelu(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** Keys and values of one attention, split into heads: kT [N,H,Dh,S] (already scaled), v [N,H,S,Dh]. */
export interface HeadKV {
  kT: Tensor;
  v: Tensor;
}

export interface DecoderStepIO {
  /** per layer: the self-attention cache of positions 0..L−1 (kT [N,H,Dh,L], v [N,H,L,Dh]) */
  self: HeadKV[];
  /** per layer: the cross-attention keys and values of the audio */
  cross: HeadKV[];
  /** additive mask [L + 1]: 0 for cached positions in use and for the new one, −∞ for the rest */
  mask: Tensor;
  /** int64 [1]: the position of the new token */
  position: Tensor;
}

export class WhisperModel {
  constructor(
    readonly params: ParamStore,
    readonly dims: WhisperDims,
  ) {}

  private ln(g: Graph, x: Tensor, name: string): Tensor {
    return layerNorm(x, this.params.t(g, `${name}.weight`), this.params.t(g, `${name}.bias`));
  }

  private lin(g: Graph, x: Tensor, name: string, bias = true): Tensor {
    return linear(x, this.params.t(g, `${name}.weight`), bias ? this.params.t(g, `${name}.bias`) : undefined);
  }

  /** [N,T,D] → [N,H,T,Dh] */
  private splitHeads(x: Tensor, heads: number): Tensor {
    const [n, t, d] = x.shape as [number, number, number];
    return transpose(reshape(x, [n, t, heads, d / heads]), [0, 2, 1, 3]);
  }

  /** Keys (scaled by Dh^−¼ as the reference does) and values of `xa` [N,S,D] for attention `name`. */
  keysValues(g: Graph, xa: Tensor, name: string, heads: number): HeadKV {
    const [n, s, d] = xa.shape as [number, number, number];
    const scale = (d / heads) ** -0.25;
    const k = mul(this.lin(g, xa, `${name}.key`, false), scale);
    return {
      kT: transpose(reshape(k, [n, s, heads, d / heads]), [0, 2, 3, 1]),
      v: this.splitHeads(this.lin(g, xa, `${name}.value`), heads),
    };
  }

  /** softmax(q·kᵀ + mask)·v for queries of x [N,T,D], through the output projection. */
  private attend(g: Graph, x: Tensor, name: string, heads: number, kv: HeadKV, mask?: Tensor): Tensor {
    const [n, t, d] = x.shape as [number, number, number];
    const q = this.splitHeads(mul(this.lin(g, x, `${name}.query`), (d / heads) ** -0.25), heads);
    let qk = matmul(q, kv.kT);
    if (mask) qk = add(qk, mask);
    const o = matmul(softmax(qk, -1), kv.v);
    return this.lin(g, reshape(transpose(o, [0, 2, 1, 3]), [n, t, d]), `${name}.out`);
  }

  private mlp(g: Graph, x: Tensor, prefix: string): Tensor {
    return this.lin(g, gelu(this.lin(g, this.ln(g, x, `${prefix}mlp_ln`), `${prefix}mlp.0`)), `${prefix}mlp.2`);
  }

  /** AudioEncoder: mel [N, n_mels, 2·n_audio_ctx] → audio features [N, n_audio_ctx, n_audio_state]. */
  encode(g: Graph, mel: Tensor): Tensor {
    const { nMels, nAudioCtx: ctx, nAudioState: d, nAudioHead: heads, nAudioLayer: layers } = this.dims;
    const n = mel.shape[0]!;
    if (mel.rank !== 3 || mel.shape[1] !== nMels || mel.shape[2] !== 2 * ctx) {
      throw new GraphError(`Whisper encoder input must be [N,${nMels},${2 * ctx}], got ${mel}`);
    }
    const p = this.params;
    return g.scope('whisper.encoder', () => {
      let x = reshape(mel, [n, nMels, 1, 2 * ctx]);
      x = gelu(conv2d(x, p.t(g, 'encoder.conv1.weight'), p.t(g, 'encoder.conv1.bias'), { pads: [0, 1, 0, 1] }));
      x = gelu(conv2d(x, p.t(g, 'encoder.conv2.weight'), p.t(g, 'encoder.conv2.bias'), { pads: [0, 1, 0, 1], strides: [1, 2] }));
      x = add(transpose(reshape(x, [n, d, ctx]), [0, 2, 1]), p.t(g, 'encoder.positional_embedding'));
      for (let i = 0; i < layers; i++) {
        const pre = `encoder.blocks.${i}.`;
        x = g.scope(`blocks.${i}`, () => {
          const h = this.ln(g, x, `${pre}attn_ln`);
          const y = add(x, this.attend(g, h, `${pre}attn`, heads, this.keysValues(g, h, `${pre}attn`, heads)));
          return add(y, this.mlp(g, y, pre));
        });
      }
      return this.ln(g, x, 'encoder.ln_post');
    });
  }

  /** Each decoder layer's cross-attention keys and values of the audio features [N, S, D]. */
  crossKeysValues(g: Graph, audio: Tensor): HeadKV[] {
    return g.scope('whisper.cross_kv', () =>
      Array.from({ length: this.dims.nTextLayer }, (_, i) => this.keysValues(g, audio, `decoder.blocks.${i}.cross_attn`, this.dims.nTextHead)),
    );
  }

  /** ln → x @ token_embeddingᵀ: [N,T,D] → [N,T,vocab] */
  private logits(g: Graph, x: Tensor): Tensor {
    const [n, t, d] = x.shape as [number, number, number];
    const h = this.ln(g, x, 'decoder.ln');
    const y = gemm(reshape(h, [n * t, d]), this.params.t(g, 'decoder.token_embedding.weight'), undefined, { transB: true });
    return reshape(y, [n, t, this.dims.nVocab]);
  }

  private checkTokens(tokens: Tensor, t?: number): void {
    if (tokens.rank !== 2 || tokens.dtype !== 'int64' || (t !== undefined && tokens.shape[1] !== t)) {
      throw new GraphError(`Whisper decoder tokens must be int64 [N,${t ?? 'T'}], got ${tokens}`);
    }
    if (tokens.shape[1]! > this.dims.nTextCtx) throw new GraphError(`Whisper decoder: ${tokens.shape[1]} tokens exceed the text context of ${this.dims.nTextCtx}`);
  }

  /**
   * TextDecoder without a cache: tokens int64 [N,T] at positions 0..T−1 and audio features [N,S,D] →
   * logits [N,T,vocab] (every position, as model.decoder(tokens, audio) returns them).
   */
  decode(g: Graph, tokens: Tensor, audio: Tensor): Tensor {
    this.checkTokens(tokens);
    const { nTextHead: heads, nTextLayer: layers } = this.dims;
    const t = tokens.shape[1]!;
    const p = this.params;
    return g.scope('whisper.decoder', () => {
      const mask = new Float32Array(t * t);
      for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) mask[i * t + j] = -Infinity;
      const causal = g.constant(mask, [t, t], 'causal_mask');
      const pos = slice(p.t(g, 'decoder.positional_embedding'), [0], [t], [0]);
      let x = add(gather(p.t(g, 'decoder.token_embedding.weight'), tokens, 0), pos);
      const cross = this.crossKeysValues(g, audio);
      for (let i = 0; i < layers; i++) {
        const pre = `decoder.blocks.${i}.`;
        x = g.scope(`blocks.${i}`, () => {
          const h = this.ln(g, x, `${pre}attn_ln`);
          let y = add(x, this.attend(g, h, `${pre}attn`, heads, this.keysValues(g, h, `${pre}attn`, heads), causal));
          y = add(y, this.attend(g, this.ln(g, y, `${pre}cross_attn_ln`), `${pre}cross_attn`, heads, cross[i]!));
          return add(y, this.mlp(g, y, pre));
        });
      }
      return this.logits(g, x);
    });
  }

  /**
   * One decoding step with the key/value cache: tokens int64 [N,1] at `io.position` → logits [N,1,vocab]
   * and, per layer, the new position's self-attention keys (kT [N,H,Dh,1]) and values (v [N,H,1,Dh]).
   */
  decodeStep(g: Graph, tokens: Tensor, io: DecoderStepIO): { logits: Tensor; newKV: HeadKV[] } {
    this.checkTokens(tokens, 1);
    const { nTextHead: heads, nTextLayer: layers } = this.dims;
    if (io.self.length !== layers || io.cross.length !== layers) throw new GraphError(`Whisper decoder step: expected ${layers} layers of caches`);
    const p = this.params;
    return g.scope('whisper.decoder_step', () => {
      let x = add(gather(p.t(g, 'decoder.token_embedding.weight'), tokens, 0), gather(p.t(g, 'decoder.positional_embedding'), io.position, 0));
      const newKV: HeadKV[] = [];
      for (let i = 0; i < layers; i++) {
        const pre = `decoder.blocks.${i}.`;
        x = g.scope(`blocks.${i}`, () => {
          const h = this.ln(g, x, `${pre}attn_ln`);
          const now = this.keysValues(g, h, `${pre}attn`, heads);
          newKV.push(now);
          const kv = { kT: concat([io.self[i]!.kT, now.kT], 3), v: concat([io.self[i]!.v, now.v], 2) };
          let y = add(x, this.attend(g, h, `${pre}attn`, heads, kv, io.mask));
          y = add(y, this.attend(g, this.ln(g, y, `${pre}cross_attn_ln`), `${pre}cross_attn`, heads, io.cross[i]!));
          return add(y, this.mlp(g, y, pre));
        });
      }
      return { logits: this.logits(g, x), newKV };
    });
  }
}
