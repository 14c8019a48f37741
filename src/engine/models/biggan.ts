/**
 * BigGAN-deep generator (huggingface/pytorch-pretrained-BigGAN layout: `config.json` + `pytorch_model.bin`).
 *
 * Loading folds each spectral norm into a plain weight (eval mode: weight_orig / (u · (W v)), W = weight_orig
 * as [out, -1]) and keeps the batch-norm statistics of every truncation row; the graph picks the rows for
 * its truncation when it is built. `generate` is the official `BigGAN.forward(z, class_vector, truncation)`;
 * `generatePerBlock` is big-sleep's variant with one conditioning row per block (bigsleep.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  GraphError,
  add,
  concat,
  conv2d,
  div,
  linear,
  matmul,
  maxPool2d,
  mul,
  relu,
  reshape,
  slice,
  softmax,
  sub,
  tanh,
  transpose,
  unsqueeze,
  upsampleNearest,
  type Graph,
  type Tensor,
} from '../graph/index.ts';
import { openWeights } from '../weights/index.ts';
import { ParamStore, type ParamArray } from './params.ts';

export interface BigganConfig {
  outputDim: number;
  zDim: number;
  classEmbedDim: number;
  channelWidth: number;
  numClasses: number;
  /** per GenBlock: [up-sample?, in, out] as multiples of channelWidth */
  layers: [boolean, number, number][];
  /** the self-attention block goes before the GenBlock with this index */
  attentionLayerPosition: number;
  eps: number;
  nStats: number;
}

/** The conditioning of one forward pass: a [B, 2·zDim] row per block, or the same rows for every block. */
export type Conditioning = (block: number) => Tensor;

export function parseBigganConfig(json: unknown, source: string): BigganConfig {
  const o = (json ?? {}) as Record<string, unknown>;
  const int = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new GraphError(`${source}: "${k}" should be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const layers = o.layers;
  if (!Array.isArray(layers) || !layers.length || !layers.every((l) => Array.isArray(l) && l.length === 3 && typeof l[0] === 'boolean' && Number.isInteger(l[1]) && Number.isInteger(l[2]))) {
    throw new GraphError(`${source}: "layers" should be a list of [up-sample?, in, out] triples`);
  }
  const eps = o.eps;
  if (typeof eps !== 'number' || !(eps > 0)) throw new GraphError(`${source}: "eps" should be a positive number`);
  const c: BigganConfig = {
    outputDim: int('output_dim'), zDim: int('z_dim'), classEmbedDim: int('class_embed_dim'), channelWidth: int('channel_width'),
    numClasses: int('num_classes'), layers: layers as [boolean, number, number][], attentionLayerPosition: int('attention_layer_position'),
    eps, nStats: int('n_stats'),
  };
  if (c.nStats < 2) throw new GraphError(`${source}: "n_stats" should be at least 2`);
  return c;
}

/** config.json and pytorch_model.bin of a BigGAN folder, with clear errors when missing. */
export function findBigganFiles(dir: string): { config: string; weights: string } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`BigGAN model folder not found: ${dir}`);
  const config = path.join(dir, 'config.json');
  if (!fs.existsSync(config)) throw new Error(`no config.json in ${dir} (a BigGAN-deep folder holds config.json and pytorch_model.bin)`);
  const names = fs.readdirSync(dir).sort();
  const file = ['pytorch_model.bin', 'model.safetensors'].find((f) => names.includes(f)) ?? names.find((f) => /^biggan-deep-\d+-pytorch_model\.bin$/.test(f));
  if (!file) throw new Error(`no pytorch_model.bin in ${dir}`);
  return { config, weights: path.join(dir, file) };
}

/**
 * weight_orig / σ with σ = u · (W v), W = weight_orig as [out, rest]: what torch's spectral_norm uses in eval
 * mode (no power iteration). σ is summed in float64 and rounded to float32 like torch's result.
 */
export function foldSpectralNorm(orig: ParamArray, u: Float32Array, v: Float32Array, name: string): ParamArray {
  const out = orig.shape[0]!;
  const rest = orig.data.length / out;
  if (u.length !== out || v.length !== rest) {
    throw new GraphError(`${name}: weight_u [${u.length}] / weight_v [${v.length}] do not fit weight_orig [${orig.shape.join(',')}]`);
  }
  let sigma = 0;
  for (let i = 0; i < out; i++) {
    let wv = 0;
    for (let j = 0; j < rest; j++) wv += orig.data[i * rest + j]! * v[j]!;
    sigma += u[i]! * wv;
  }
  const s = Math.fround(sigma);
  if (!(Math.abs(s) > 0)) throw new GraphError(`${name}: spectral norm σ is ${s}; the weights are unusable`);
  const data = new Float32Array(orig.data.length);
  for (let i = 0; i < data.length; i++) data[i] = orig.data[i]! / s;
  return { data, shape: [...orig.shape] };
}

/**
 * The statistics row for a truncation, as the official BigGANBatchNorm picks it: q = t / (1/(n−1)),
 * start = ⌊q⌋, coef = q − start; rows[start]·coef + rows[start+1]·(1 − coef) when coef ≠ 0 (sic: the weights
 * are the other way round from a linear interpolation), else rows[start]. float32 arithmetic, like torch.
 */
export function statsRow(rows: ParamArray, truncation: number, nStats: number): Float32Array {
  const step = 1 / (nStats - 1);
  const q = truncation / step;
  const start = Math.trunc(q);
  const coef = q - start;
  const c = rows.shape[1]!;
  const row = (i: number) => {
    if (i < 0 || i >= rows.shape[0]!) throw new GraphError(`truncation ${truncation} needs statistics row ${i}, outside the ${rows.shape[0]} rows`);
    return rows.data.subarray(i * c, (i + 1) * c);
  };
  if (coef === 0) return row(start).slice();
  const a = row(start);
  const b = row(start + 1);
  const ca = Math.fround(coef);
  const cb = Math.fround(1 - coef);
  return Float32Array.from({ length: c }, (_, k) => Math.fround(Math.fround(a[k]! * ca) + Math.fround(b[k]! * cb)));
}

const SN_SUFFIX = '.weight_orig';

export class BigganModel {
  /** 4·4·16·ch features from gen_z, reshaped NHWC→NCHW */
  readonly firstChannels: number;

  constructor(
    readonly config: BigganConfig,
    readonly params: ParamStore,
  ) {
    this.firstChannels = 16 * config.channelWidth;
    const emb = params.shape('embeddings.weight');
    if (emb[0] !== config.zDim || emb[1] !== config.numClasses) {
      throw new GraphError(`${params.source}: embeddings.weight is [${emb.join(',')}], but the config says z_dim ${config.zDim} and num_classes ${config.numClasses}`);
    }
    params.array('generator.gen_z.weight', [4 * 4 * this.firstChannels, 2 * config.zDim]);
  }

  /** The number of GenBlocks. */
  get blocks(): number {
    return this.config.layers.length;
  }

  /** big-sleep's latent rows: one for gen_z and one per GenBlock. */
  get numLatents(): number {
    return this.blocks + 1;
  }

  get imageSize(): number {
    return 4 * 2 ** this.config.layers.filter((l) => l[0]).length;
  }

  static async load(dir: string): Promise<BigganModel> {
    const files = findBigganFiles(dir);
    const config = parseBigganConfig(JSON.parse(fs.readFileSync(files.config, 'utf8')), files.config);
    const w = await openWeights(files.weights);
    const arrays = new Map<string, ParamArray>();
    try {
      const read = (name: string): ParamArray => ({ data: w.float32(name), shape: [...w.tensors.get(name)!.shape] });
      for (const name of w.tensors.keys()) {
        if (name.endsWith('.weight_u') || name.endsWith('.weight_v')) continue;
        if (name.endsWith(SN_SUFFIX)) {
          const base = name.slice(0, -SN_SUFFIX.length);
          // torch < 1.0 saved the normalised weight itself (and no weight_v): that is the folded weight
          if (w.tensors.has(`${base}.weight`)) continue;
          const u = `${base}.weight_u`;
          const v = `${base}.weight_v`;
          if (!w.tensors.has(u) || !w.tensors.has(v)) throw new GraphError(`${files.weights}: ${name} has no weight_u / weight_v beside it`);
          arrays.set(`${base}.weight`, foldSpectralNorm(read(name), w.float32(u), w.float32(v), `${files.weights}: ${base}`));
        } else {
          arrays.set(name, read(name));
        }
      }
    } finally {
      w.close();
    }
    return new BigganModel(config, new ParamStore(arrays, files.weights));
  }

  /** The official forward: z [B, zDim], classes [B, numClasses] → image [B, 3, S, S] in [-1, 1]. */
  generate(g: Graph, z: Tensor, classes: Tensor, truncation: number): Tensor {
    const cond = concat([z, this.embed(g, classes)], 1);
    return this.generator(g, () => cond, truncation);
  }

  /** classes [R, numClasses] → class embeddings [R, zDim] (a linear map without bias). */
  embed(g: Graph, classes: Tensor): Tensor {
    return linear(classes, this.params.t(g, 'embeddings.weight'));
  }

  /**
   * The generator on conditioning rows: `cond(0)` feeds gen_z, `cond(i + 1)` GenBlock i (the official model
   * uses the same rows everywhere). Each is [B, 2·zDim].
   */
  generator(g: Graph, cond: Conditioning, truncation: number): Tensor {
    if (!(truncation > 0 && truncation <= 1)) throw new GraphError(`BigGAN truncation must be in (0, 1], got ${truncation}`);
    const c = this.config;
    const ch = c.channelWidth;
    return g.scope('generator', () => {
      const c0 = cond(0);
      const b = c0.shape[0]!;
      let x = linear(c0, this.params.t(g, 'generator.gen_z.weight'), this.params.t(g, 'generator.gen_z.bias'));
      x = transpose(reshape(x, [b, 4, 4, this.firstChannels]), [0, 3, 1, 2]);
      let module = 0;
      c.layers.forEach(([up, cin, cout], i) => {
        if (i === c.attentionLayerPosition) x = this.attention(g, x, `generator.layers.${module++}`);
        x = this.genBlock(g, x, cond(i + 1), `generator.layers.${module++}`, up, ch * cin, ch * cout, truncation);
      });
      x = relu(this.batchNorm(g, x, 'generator.bn', truncation));
      x = this.conv(g, x, 'generator.conv_to_rgb', 1);
      return tanh(slice(x, [0], [3], [1]));
    });
  }

  private conv(g: Graph, x: Tensor, name: string, pad: number, bias = true): Tensor {
    const w = this.params.t(g, `${name}.weight`);
    if (w.shape[1] !== x.shape[1]) throw new GraphError(`${this.params.source}: ${name}.weight is ${w}, but its input has ${x.shape[1]} channels`);
    return conv2d(x, w, bias ? this.params.t(g, `${name}.bias`) : undefined, { pads: [pad, pad, pad, pad] });
  }

  /** (x − mean) / sqrt(var + eps) with the truncation's statistics rows, as constants [1, C, 1, 1]. */
  private normalize(g: Graph, x: Tensor, name: string, truncation: number): Tensor {
    const c = x.shape[1]!;
    const nStats = this.config.nStats;
    const means = this.params.array(`${name}.running_means`, [nStats, c]);
    const vars = this.params.array(`${name}.running_vars`, [nStats, c]);
    const mean = statsRow(means, truncation, nStats);
    const v = statsRow(vars, truncation, nStats);
    const eps = Math.fround(this.config.eps);
    const denom = v.map((x) => Math.fround(Math.sqrt(Math.fround(x + eps))));
    const key = `${name}.t${truncation}`;
    const m = g.constant(mean, [1, c, 1, 1], `${key}.mean`);
    const d = g.constant(denom, [1, c, 1, 1], `${key}.std`);
    return div(sub(x, m), d);
  }

  /** BigGANBatchNorm without a condition (the last one): affine weight and bias. */
  private batchNorm(g: Graph, x: Tensor, name: string, truncation: number): Tensor {
    const c = x.shape[1]!;
    const w = reshape(this.params.t(g, `${name}.weight`, [c]), [1, c, 1, 1]);
    const b = reshape(this.params.t(g, `${name}.bias`, [c]), [1, c, 1, 1]);
    return add(mul(this.normalize(g, x, name, truncation), w), b);
  }

  /** Conditional BigGANBatchNorm: · (1 + scale(cond)) + offset(cond), scale and offset linear maps without bias. */
  private condBatchNorm(g: Graph, x: Tensor, cond: Tensor, name: string, truncation: number): Tensor {
    const scale = linear(cond, this.params.t(g, `${name}.scale.weight`));
    const offset = linear(cond, this.params.t(g, `${name}.offset.weight`));
    const weight = unsqueeze(add(scale, 1), [2, 3]);
    return add(mul(this.normalize(g, x, name, truncation), weight), unsqueeze(offset, [2, 3]));
  }

  private genBlock(g: Graph, x: Tensor, cond: Tensor, name: string, up: boolean, cin: number, cout: number, truncation: number): Tensor {
    return g.scope(name, () => {
      if (x.shape[1] !== cin) throw new GraphError(`${name}: expects ${cin} channels, got ${x}`);
      if (cin !== cout && Math.floor(cin / 2) !== cout) throw new GraphError(`${name}: the skip path halves ${cin} channels, which does not give ${cout}`);
      const bnReluConv = (h: Tensor, i: number, pad: number, upsample = false) => {
        let r = relu(this.condBatchNorm(g, h, cond, `${name}.bn_${i}`, truncation));
        if (upsample) r = upsampleNearest(r, 2);
        return this.conv(g, r, `${name}.conv_${i}`, pad);
      };
      let h = bnReluConv(x, 0, 0);
      h = bnReluConv(h, 1, 1, up);
      h = bnReluConv(h, 2, 1);
      h = bnReluConv(h, 3, 0);
      let skip = cin !== cout ? slice(x, [0], [Math.floor(cin / 2)], [1]) : x;
      if (up) skip = upsampleNearest(skip, 2);
      return add(h, skip);
    });
  }

  private attention(g: Graph, x: Tensor, name: string): Tensor {
    return g.scope(name, () => {
      const [b, ch, hh, ww] = x.shape as [number, number, number, number];
      const hw = hh * ww;
      const pool = (t: Tensor) => maxPool2d(t, { kernel: [2, 2] });
      const theta = reshape(this.conv(g, x, `${name}.snconv1x1_theta`, 0, false), [b, ch / 8, hw]);
      const phi = reshape(pool(this.conv(g, x, `${name}.snconv1x1_phi`, 0, false)), [b, ch / 8, hw / 4]);
      const attn = softmax(matmul(transpose(theta, [0, 2, 1]), phi), -1); // [b, hw, hw/4]
      const gp = reshape(pool(this.conv(g, x, `${name}.snconv1x1_g`, 0, false)), [b, ch / 2, hw / 4]);
      const attnG = reshape(matmul(gp, transpose(attn, [0, 2, 1])), [b, ch / 2, hh, ww]);
      const o = this.conv(g, attnG, `${name}.snconv1x1_o_conv`, 0, false);
      return add(x, mul(o, this.params.t(g, `${name}.gamma`, [1])));
    });
  }
}
