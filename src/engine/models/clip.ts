import fs from 'node:fs';
import {
  GraphError,
  add,
  concat,
  div,
  expand,
  gather,
  layerNorm,
  linear,
  matmul,
  matmulT,
  mul,
  quickGelu,
  reshape,
  slice,
  softmax,
  sub,
  transpose,
  type Graph,
  type Tensor,
} from '../graph/index.ts';
import { findClipFiles, readClipParams } from './clip-weights.ts';
import type { ParamStore } from './params.ts';

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface ClipConfig {
  embedDim: number;
  vision: { width: number; layers: number; heads: number; patch: number; grid: number; resolution: number };
  text: { width: number; layers: number; heads: number; contextLength: number; vocabSize: number };
}

interface HeadHints {
  visionHeads?: number;
  textHeads?: number;
}

/** Sizes from the tensors themselves; head counts from the config file when it has them (else width/64). */
export function inferClipConfig(p: ParamStore, hints: HeadHints = {}): ClipConfig {
  const [width, , patch] = p.shape('visual.conv1.weight') as [number, number, number];
  const positions = p.shape('visual.positional_embedding')[0]!;
  const grid = Math.round(Math.sqrt(positions - 1));
  if (grid * grid + 1 !== positions) throw new GraphError(`${p.source}: visual.positional_embedding has ${positions} rows, not a square grid + 1`);
  const [textCtx, textWidth] = p.shape('positional_embedding') as [number, number];
  return {
    embedDim: p.shape('visual.proj')[1]!,
    vision: {
      width,
      layers: p.countIndexed('visual.transformer.resblocks.'),
      heads: hints.visionHeads ?? width / 64,
      patch,
      grid,
      resolution: patch * grid,
    },
    text: {
      width: textWidth,
      layers: p.countIndexed('transformer.resblocks.'),
      heads: hints.textHeads ?? textWidth / 64,
      contextLength: textCtx,
      vocabSize: p.shape('token_embedding.weight')[0]!,
    },
  };
}

function headHints(configPath?: string): HeadHints {
  if (!configPath) return {};
  const j = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, any>;
  if (j.model_cfg) {
    const v = j.model_cfg.vision_cfg ?? {};
    const t = j.model_cfg.text_cfg ?? {};
    return {
      ...(v.heads ? { visionHeads: v.heads } : v.width && v.head_width ? { visionHeads: v.width / v.head_width } : {}),
      ...(t.heads ? { textHeads: t.heads } : {}),
    };
  }
  return {
    ...(j.vision_config?.num_attention_heads ? { visionHeads: j.vision_config.num_attention_heads } : {}),
    ...(j.text_config?.num_attention_heads ? { textHeads: j.text_config.num_attention_heads } : {}),
  };
}

export class ClipModel {
  constructor(
    readonly params: ParamStore,
    readonly config: ClipConfig,
  ) {
    for (const [what, c] of [
      ['vision', config.vision],
      ['text', config.text],
    ] as const) {
      if (!Number.isInteger(c.heads) || c.width % c.heads) throw new GraphError(`CLIP ${what}: width ${c.width} does not split into ${c.heads} heads`);
    }
  }

  static async load(dir: string): Promise<ClipModel> {
    const files = findClipFiles(dir);
    const params = await readClipParams(files);
    return new ClipModel(params, inferClipConfig(params, headHints(files.config)));
  }

  get inputSize(): number {
    return this.config.vision.resolution;
  }

  /** (x − mean) / std per channel, for x [N,3,R,R] in [0,1]. */
  normalize(g: Graph, x: Tensor): Tensor {
    const mean = g.constant(Float32Array.from(CLIP_MEAN), [3, 1, 1], 'clip_mean');
    const std = g.constant(Float32Array.from(CLIP_STD), [3, 1, 1], 'clip_std');
    return div(sub(x, mean), std);
  }

  /** encode_image of already-normalised pixels [N,3,R,R] → [N, embedDim] (not unit length). */
  encodeImage(g: Graph, x: Tensor): Tensor {
    const { width, grid, patch, resolution } = this.config.vision;
    const n = x.shape[0]!;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== resolution || x.shape[3] !== resolution) {
      throw new GraphError(`CLIP image input must be [N,3,${resolution},${resolution}], got ${x}`);
    }
    const p = this.params;
    return g.scope('clip.visual', () => {
      // the stride-`patch` convolution as one product: its patches do not overlap, so they are a
      // reshape of the image, and the gradient is a MatMul instead of ORT's slow ConvTranspose
      const cols = reshape(transpose(reshape(x, [n, 3, grid, patch, grid, patch]), [0, 2, 4, 1, 3, 5]), [n * grid * grid, 3 * patch * patch]);
      const kernel = reshape(p.t(g, 'visual.conv1.weight'), [width, 3 * patch * patch]);
      const tokens = reshape(linear(cols, kernel), [n, grid * grid, width]);
      const cls = expand(reshape(p.t(g, 'visual.class_embedding'), [1, 1, width]), [n, 1, width]);
      let h = add(concat([cls, tokens], 1), p.t(g, 'visual.positional_embedding'));
      h = layerNorm(h, p.t(g, 'visual.ln_pre.weight'), p.t(g, 'visual.ln_pre.bias'));
      const layers = this.config.vision.layers;
      for (let i = 0; i < layers; i++) {
        // only the class token leaves the last block: its other rows are never computed
        h = g.scope(`resblocks.${i}`, () => this.block(g, h, `visual.transformer.resblocks.${i}.`, this.config.vision.heads, null, i === layers - 1));
      }
      const first = reshape(h, [n, width]);
      const pooled = layerNorm(first, p.t(g, 'visual.ln_post.weight'), p.t(g, 'visual.ln_post.bias'));
      return matmul(pooled, p.t(g, 'visual.proj'));
    });
  }

  /**
   * encode_text: tokens int64 [P, ctx]; eot int64 [P] holds row·ctx + position of each row's end token
   * (the argmax of the row, found on the host) → [P, embedDim].
   */
  encodeText(g: Graph, tokens: Tensor, eot: Tensor): Tensor {
    const { width, contextLength, heads } = this.config.text;
    const rows = tokens.shape[0]!;
    if (tokens.rank !== 2 || tokens.shape[1] !== contextLength) throw new GraphError(`CLIP text input must be [P,${contextLength}], got ${tokens}`);
    const p = this.params;
    return g.scope('clip.text', () => {
      let h = add(gather(p.t(g, 'token_embedding.weight'), tokens, 0), p.t(g, 'positional_embedding'));
      const mask = g.constant(causalMask(contextLength), [contextLength, contextLength], 'causal_mask');
      for (let i = 0; i < this.config.text.layers; i++) {
        h = g.scope(`resblocks.${i}`, () => this.block(g, h, `transformer.resblocks.${i}.`, heads, mask));
      }
      h = layerNorm(h, p.t(g, 'ln_final.weight'), p.t(g, 'ln_final.bias'));
      const pooled = gather(reshape(h, [rows * contextLength, width]), eot, 0);
      return matmul(pooled, p.t(g, 'text_projection'));
    });
  }

  /**
   * Pre-norm residual attention block on batch-first [N, L, W]; firstOnly: the output row of the first
   * token alone, [N, 1, W] (it still attends to every token).
   */
  private block(g: Graph, x: Tensor, prefix: string, heads: number, mask: Tensor | null, firstOnly = false): Tensor {
    const p = this.params;
    const w = (n: string) => p.t(g, prefix + n);
    const h = layerNorm(x, w('ln_1.weight'), w('ln_1.bias'));
    const rows = (t: Tensor) => (firstOnly ? slice(t, [0], [1], [1]) : t);
    const x1 = add(rows(x), this.attention(g, h, rows(h), prefix + 'attn.', heads, mask));
    const h2 = layerNorm(x1, w('ln_2.weight'), w('ln_2.bias'));
    const mlp = linear(quickGelu(linear(h2, w('mlp.c_fc.weight'), w('mlp.c_fc.bias'))), w('mlp.c_proj.weight'), w('mlp.c_proj.bias'));
    return add(x1, mlp);
  }

  /** Multi-head attention of the query rows xq [N, Lq, W] over all rows x [N, L, W]. */
  private attention(g: Graph, x: Tensor, xq: Tensor, prefix: string, heads: number, mask: Tensor | null): Tensor {
    const [n, l, width] = x.shape as [number, number, number];
    const lq = xq.shape[1]!;
    const hd = width / heads;
    const w = (name: string) => this.params.t(g, prefix + name);
    const split = (t: Tensor, rows = l) => transpose(reshape(t, [n, rows, heads, hd]), [0, 2, 1, 3]);
    const q = split(mul(linear(xq, w('q.weight'), w('q.bias')), 1 / Math.sqrt(hd)), lq);
    const k = split(linear(x, w('k.weight'), w('k.bias')));
    const v = split(linear(x, w('v.weight'), w('v.bias')));
    let scores = matmulT(q, k, false, true);
    if (mask) scores = add(scores, lq === l ? mask : slice(mask, [0], [lq], [0]));
    const o = matmul(softmax(scores, -1), v);
    const merged = reshape(transpose(o, [0, 2, 1, 3]), [n, lq, width]);
    return linear(merged, w('out.weight'), w('out.bias'));
  }
}

function causalMask(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) m[i * n + j] = -Infinity;
  return m;
}

/** Flat row·ctx + argmax positions of each token row (the end token has the largest id). */
export function eotPositions(ids: BigInt64Array, rows: number, ctx: number): BigInt64Array {
  const out = new BigInt64Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < ctx; j++) if (ids[r * ctx + j]! > ids[r * ctx + best]!) best = j;
    out[r] = BigInt(r * ctx + best);
  }
  return out;
}
