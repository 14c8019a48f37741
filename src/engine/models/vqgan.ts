import fs from 'node:fs';
import path from 'node:path';
import {
  GraphError,
  add,
  argMin,
  conv2d,
  gather,
  groupNorm,
  groupNormSwish,
  matmul,
  mul,
  pad,
  reduceSum,
  replaceGrad,
  reshape,
  softmax,
  sub,
  transpose,
  upsample2Conv3x3,
  type Graph,
  type Tensor,
} from '../graph/index.ts';
import { openWeights } from '../weights/index.ts';
import { ParamStore, type ParamArray } from './params.ts';

export interface VqganConfig {
  embedDim: number;
  nEmbed: number;
  zChannels: number;
  /** number of resolution levels; the spatial factor is 2^(levels−1) */
  levels: number;
  factor: number;
  gumbel: boolean;
}

const GROUPS = 32;
const EPS = 1e-6;

/** The checkpoint and config of a VQGAN folder (taming layout), by preference then name order. */
export function locateVqganFiles(dir: string): { ckpt?: string; yaml?: string } {
  let files: string[];
  try {
    files = fs.readdirSync(dir).sort();
  } catch {
    return {};
  }
  const ckpt = ['last.ckpt', 'model.ckpt'].find((f) => files.includes(f)) ?? files.find((f) => f.endsWith('.ckpt'));
  const yaml = ['model.yaml', 'config.yaml'].find((f) => files.includes(f)) ?? files.find((f) => f.endsWith('.yaml'));
  return { ...(ckpt ? { ckpt: path.join(dir, ckpt) } : {}), ...(yaml ? { yaml: path.join(dir, yaml) } : {}) };
}

/** Like locateVqganFiles, with clear errors when the folder or its checkpoint is missing. */
export function findVqganFiles(dir: string): { ckpt: string; yaml?: string } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`VQGAN model folder not found: ${dir}`);
  const { ckpt, yaml } = locateVqganFiles(dir);
  if (!ckpt) throw new Error(`no VQGAN checkpoint (*.ckpt) in ${dir}`);
  return { ckpt, ...(yaml ? { yaml } : {}) };
}

/** The numbers of a taming model.yaml that matter here (a flat scan; the file is simple YAML). */
export function readTamingYaml(text: string): { embedDim?: number; nEmbed?: number; zChannels?: number } {
  const num = (key: string) => {
    const m = new RegExp(`^\\s*${key}:\\s*(\\d+)\\s*$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const out: { embedDim?: number; nEmbed?: number; zChannels?: number } = {};
  const e = num('embed_dim');
  const n = num('n_embed');
  const z = num('z_channels');
  if (e !== undefined) out.embedDim = e;
  if (n !== undefined) out.nEmbed = n;
  if (z !== undefined) out.zChannels = z;
  return out;
}

export class VqganModel {
  readonly config: VqganConfig;
  /** [nEmbed, embedDim] row-major */
  readonly codebook: Float32Array;
  private readonly codebookSq: Float32Array;

  constructor(readonly params: ParamStore) {
    const gumbel = !params.has('quantize.embedding.weight') && params.has('quantize.embed.weight');
    const cbName = gumbel ? 'quantize.embed.weight' : 'quantize.embedding.weight';
    const [nEmbed, embedDim] = params.shape(cbName) as [number, number];
    const levels = params.countIndexed('decoder.up.');
    if (!levels) throw new GraphError(`${params.source}: no decoder.up.* weights: not a taming VQGAN checkpoint`);
    this.codebook = params.array(cbName).data;
    this.codebookSq = new Float32Array(nEmbed);
    for (let k = 0; k < nEmbed; k++) {
      let s = 0;
      for (let c = 0; c < embedDim; c++) s += this.codebook[k * embedDim + c]! ** 2;
      this.codebookSq[k] = s;
    }
    this.config = { embedDim, nEmbed, zChannels: params.shape('decoder.conv_in.weight')[1]!, levels, factor: 2 ** (levels - 1), gumbel };
  }

  static async load(dir: string): Promise<VqganModel> {
    const files = findVqganFiles(dir);
    const read = async () => {
      const w = await openWeights(files.ckpt);
      const arrays = new Map<string, ParamArray>();
      try {
        for (const [name, info] of w.tensors) {
          if (name.startsWith('loss.') || info.dtype === 'int64') continue;
          arrays.set(name, { data: w.float32(name), shape: [...info.shape] });
        }
      } finally {
        w.close();
      }
      return arrays;
    };
    const model = new VqganModel(new ParamStore(await read(), files.ckpt, read));
    if (files.yaml) {
      const y = readTamingYaml(fs.readFileSync(files.yaml, 'utf8'));
      const c = model.config;
      if ((y.embedDim && y.embedDim !== c.embedDim) || (y.nEmbed && y.nEmbed !== c.nEmbed)) {
        throw new GraphError(
          `${files.yaml} says embed_dim ${y.embedDim} / n_embed ${y.nEmbed}, but ${files.ckpt} has a ${c.nEmbed}×${c.embedDim} codebook: the config and checkpoint do not belong together`,
        );
      }
    }
    return model;
  }

  private conv(g: Graph, x: Tensor, name: string, stride = 1, padding?: number): Tensor {
    const w = this.params.t(g, `${name}.weight`);
    const k = w.shape[2]!;
    const p = padding ?? (k - 1) / 2;
    return conv2d(x, w, this.params.t(g, `${name}.bias`), { strides: [stride, stride], pads: [p, p, p, p] });
  }

  private norm(g: Graph, x: Tensor, name: string): Tensor {
    return groupNorm(x, GROUPS, this.params.t(g, `${name}.weight`), this.params.t(g, `${name}.bias`), EPS);
  }

  private normSwish(g: Graph, x: Tensor, name: string): Tensor {
    return groupNormSwish(x, GROUPS, this.params.t(g, `${name}.weight`), this.params.t(g, `${name}.bias`), EPS);
  }

  private resnet(g: Graph, x: Tensor, name: string): Tensor {
    return g.scope(name, () => {
      let h = this.conv(g, this.normSwish(g, x, `${name}.norm1`), `${name}.conv1`);
      h = this.conv(g, this.normSwish(g, h, `${name}.norm2`), `${name}.conv2`);
      const skip = this.params.has(`${name}.nin_shortcut.weight`) ? this.conv(g, x, `${name}.nin_shortcut`) : x;
      return add(skip, h);
    });
  }

  private attn(g: Graph, x: Tensor, name: string): Tensor {
    return g.scope(name, () => {
      const [b, c, hh, ww] = x.shape as [number, number, number, number];
      const h = this.norm(g, x, `${name}.norm`);
      const flat = (t: Tensor) => reshape(t, [b, c, hh * ww]);
      const q = transpose(flat(this.conv(g, h, `${name}.q`)), [0, 2, 1]);
      const k = flat(this.conv(g, h, `${name}.k`));
      const v = flat(this.conv(g, h, `${name}.v`));
      const w = softmax(mul(matmul(q, k), c ** -0.5), -1);
      const o = reshape(matmul(v, transpose(w, [0, 2, 1])), [b, c, hh, ww]);
      return add(x, this.conv(g, o, `${name}.proj_out`));
    });
  }

  private stage(g: Graph, x: Tensor, prefix: string): Tensor {
    let h = x;
    const blocks = this.params.countIndexed(`${prefix}.block.`);
    for (let i = 0; i < blocks; i++) {
      h = this.resnet(g, h, `${prefix}.block.${i}`);
      if (this.params.has(`${prefix}.attn.${i}.q.weight`)) h = this.attn(g, h, `${prefix}.attn.${i}`);
    }
    return h;
  }

  private mid(g: Graph, x: Tensor, prefix: string): Tensor {
    let h = this.resnet(g, x, `${prefix}.mid.block_1`);
    h = this.attn(g, h, `${prefix}.mid.attn_1`);
    return this.resnet(g, h, `${prefix}.mid.block_2`);
  }

  /** decoder(post_quant_conv(z)): [B, embedDim, h, w] → raw image [B, 3, h·f, w·f] (about [−1, 1]). */
  decode(g: Graph, z: Tensor): Tensor {
    this.checkLatent(z);
    return g.scope('vqgan.decoder', () => {
      let h = this.conv(g, z, 'post_quant_conv');
      h = this.conv(g, h, 'decoder.conv_in');
      h = this.mid(g, h, 'decoder');
      for (let level = this.config.levels - 1; level >= 0; level--) {
        h = this.stage(g, h, `decoder.up.${level}`);
        if (level !== 0) {
          const name = `decoder.up.${level}.upsample.conv`;
          h = upsample2Conv3x3(h, this.params.t(g, `${name}.weight`), this.params.t(g, `${name}.bias`));
        }
      }
      return this.conv(g, this.normSwish(g, h, 'decoder.norm_out'), 'decoder.conv_out');
    });
  }

  /** quant_conv(encoder(x)) for x [B,3,H,W] in [−1,1] → pre-quantisation latent [B, embedDim, H/f, W/f]. */
  encode(g: Graph, x: Tensor): Tensor {
    const f = this.config.factor;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2]! % f || x.shape[3]! % f) {
      throw new GraphError(`VQGAN encoder input must be [B,3,H,W] with H and W multiples of ${f}, got ${x}`);
    }
    return g.scope('vqgan.encoder', () => {
      let h = this.conv(g, x, 'encoder.conv_in');
      const levels = this.params.countIndexed('encoder.down.');
      for (let level = 0; level < levels; level++) {
        h = this.stage(g, h, `encoder.down.${level}`);
        if (level !== levels - 1) {
          // taming pads right and bottom by one, then a stride-2 conv without padding
          h = this.conv(g, pad(h, [0, 0, 0, 0, 0, 0, 1, 1]), `encoder.down.${level}.downsample.conv`, 2, 0);
        }
      }
      h = this.mid(g, h, 'encoder');
      h = this.conv(g, this.normSwish(g, h, 'encoder.norm_out'), 'encoder.conv_out');
      return this.conv(g, h, 'quant_conv');
    });
  }

  /**
   * Nearest codebook vector per position, with a straight-through gradient (forward the codebook
   * vector, backward to z unchanged), as the VQGAN+CLIP references' vector_quantize.
   */
  quantize(g: Graph, z: Tensor): { zq: Tensor; indices: Tensor } {
    this.checkLatent(z);
    return g.scope('vqgan.quantize', () => {
      const [b, e, h, w] = z.shape as [number, number, number, number];
      const { nEmbed } = this.config;
      const cb = g.constant(this.codebook, [nEmbed, e], 'codebook');
      const flat = reshape(transpose(z, [0, 2, 3, 1]), [b * h * w, e]);
      const cbT = g.constant(transposeCodebook(this.codebook, nEmbed, e), [e, nEmbed], 'codebook_t');
      const d = sub(add(reduceSum(mul(flat, flat), [1], true), g.constant(this.codebookSq, [1, nEmbed], 'codebook_sq')), mul(matmul(flat, cbT), 2));
      const indices = argMin(d, 1);
      const zq = transpose(reshape(gather(cb, indices, 0), [b, h, w, e]), [0, 3, 1, 2]);
      return { zq: replaceGrad(zq, z), indices };
    });
  }

  /** Per-channel min and max of the codebook (z is clamped to them after each step). */
  codebookRange(): { min: Float32Array; max: Float32Array } {
    return (this.range ??= this.computeRange());
  }

  private range?: { min: Float32Array; max: Float32Array };

  private computeRange(): { min: Float32Array; max: Float32Array } {
    const { nEmbed, embedDim } = this.config;
    const min = new Float32Array(embedDim).fill(Infinity);
    const max = new Float32Array(embedDim).fill(-Infinity);
    for (let k = 0; k < nEmbed; k++) {
      for (let c = 0; c < embedDim; c++) {
        const v = this.codebook[k * embedDim + c]!;
        if (v < min[c]!) min[c] = v;
        if (v > max[c]!) max[c] = v;
      }
    }
    return { min, max };
  }

  private checkLatent(z: Tensor): void {
    if (z.rank !== 4 || z.shape[1] !== this.config.embedDim) throw new GraphError(`VQGAN latent must be [B,${this.config.embedDim},h,w], got ${z}`);
  }
}

function transposeCodebook(cb: Float32Array, n: number, e: number): Float32Array {
  const t = new Float32Array(n * e);
  for (let k = 0; k < n; k++) for (let c = 0; c < e; c++) t[c * n + k] = cb[k * e + c]!;
  return t;
}
