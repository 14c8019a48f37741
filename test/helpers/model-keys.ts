/**
 * State-dict key names and shapes of the real models (model-spec appendices A and D), generated from the
 * architecture rules, and random weights for them scaled like the models' own initialisation.
 */
import type { TensorInfo, WeightFile } from '../../src/engine/weights/index.ts';

export type KeyShapes = [name: string, shape: number[]][];

export interface ClipSizes {
  embedDim: number;
  vision: { width: number; layers: number; patch: number; resolution: number };
  text: { width: number; layers: number; contextLength: number; vocabSize: number };
}

export const VIT_B32: ClipSizes = {
  embedDim: 512,
  vision: { width: 768, layers: 12, patch: 32, resolution: 224 },
  text: { width: 512, layers: 12, contextLength: 77, vocabSize: 49408 },
};

export interface VqganSizes {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  resolution: number;
  zChannels: number;
  embedDim: number;
  nEmbed: number;
}

export const F16_16384: VqganSizes = {
  ch: 128,
  chMult: [1, 1, 2, 2, 4],
  numResBlocks: 2,
  attnResolutions: [16],
  resolution: 256,
  zChannels: 256,
  embedDim: 256,
  nEmbed: 16384,
};

/** clip/model.py `CLIP(...).state_dict()` names and shapes, in state_dict order (OpenAI naming). */
export function clipKeys(c: ClipSizes = VIT_B32): KeyShapes {
  const { width: vw, layers: vl, patch, resolution } = c.vision;
  const { width: tw, layers: tl, contextLength, vocabSize } = c.text;
  const grid = resolution / patch;
  const block = (prefix: string, w: number): KeyShapes => [
    [`${prefix}attn.in_proj_weight`, [3 * w, w]],
    [`${prefix}attn.in_proj_bias`, [3 * w]],
    [`${prefix}attn.out_proj.weight`, [w, w]],
    [`${prefix}attn.out_proj.bias`, [w]],
    [`${prefix}ln_1.weight`, [w]],
    [`${prefix}ln_1.bias`, [w]],
    [`${prefix}mlp.c_fc.weight`, [4 * w, w]],
    [`${prefix}mlp.c_fc.bias`, [4 * w]],
    [`${prefix}mlp.c_proj.weight`, [w, 4 * w]],
    [`${prefix}mlp.c_proj.bias`, [w]],
    [`${prefix}ln_2.weight`, [w]],
    [`${prefix}ln_2.bias`, [w]],
  ];
  const keys: KeyShapes = [
    ['positional_embedding', [contextLength, tw]],
    ['text_projection', [tw, c.embedDim]],
    ['logit_scale', []],
    ['visual.class_embedding', [vw]],
    ['visual.positional_embedding', [grid * grid + 1, vw]],
    ['visual.proj', [vw, c.embedDim]],
    ['visual.conv1.weight', [vw, 3, patch, patch]],
    ['visual.ln_pre.weight', [vw]],
    ['visual.ln_pre.bias', [vw]],
  ];
  for (let i = 0; i < vl; i++) keys.push(...block(`visual.transformer.resblocks.${i}.`, vw));
  keys.push(['visual.ln_post.weight', [vw]], ['visual.ln_post.bias', [vw]]);
  for (let i = 0; i < tl; i++) keys.push(...block(`transformer.resblocks.${i}.`, tw));
  keys.push(['token_embedding.weight', [vocabSize, tw]], ['ln_final.weight', [tw]], ['ln_final.bias', [tw]]);
  return keys;
}

/** taming VQModel keys (encoder, decoder, quantize, quant_conv, post_quant_conv), per model-spec appendix D. */
export function vqganKeys(c: VqganSizes = F16_16384, parts: { encoder?: boolean; decoder?: boolean } = { encoder: true, decoder: true }): KeyShapes {
  const keys: KeyShapes = [];
  const conv = (name: string, cout: number, cin: number, k: number) => keys.push([`${name}.weight`, [cout, cin, k, k]], [`${name}.bias`, [cout]]);
  const norm = (name: string, ch: number) => keys.push([`${name}.weight`, [ch]], [`${name}.bias`, [ch]]);
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.nin_shortcut`, cout, cin, 1);
  };
  const attn = (name: string, ch: number) => {
    norm(`${name}.norm`, ch);
    for (const p of ['q', 'k', 'v', 'proj_out']) conv(`${name}.${p}`, ch, ch, 1);
  };
  const levels = c.chMult.length;
  const mid = (prefix: string, ch: number) => {
    resnet(`${prefix}.mid.block_1`, ch, ch);
    attn(`${prefix}.mid.attn_1`, ch);
    resnet(`${prefix}.mid.block_2`, ch, ch);
  };
  if (parts.encoder) {
    conv('encoder.conv_in', c.ch, 3, 3);
    let res = c.resolution;
    const inMult = [1, ...c.chMult];
    let blockIn = c.ch;
    for (let i = 0; i < levels; i++) {
      blockIn = c.ch * inMult[i]!;
      const blockOut = c.ch * c.chMult[i]!;
      for (let b = 0; b < c.numResBlocks; b++) {
        resnet(`encoder.down.${i}.block.${b}`, blockIn, blockOut);
        blockIn = blockOut;
      }
      if (c.attnResolutions.includes(res)) for (let b = 0; b < c.numResBlocks; b++) attn(`encoder.down.${i}.attn.${b}`, blockIn);
      if (i !== levels - 1) {
        conv(`encoder.down.${i}.downsample.conv`, blockIn, blockIn, 3);
        res /= 2;
      }
    }
    mid('encoder', blockIn);
    norm('encoder.norm_out', blockIn);
    conv('encoder.conv_out', c.zChannels, blockIn, 3);
  }
  if (parts.decoder) {
    let blockIn = c.ch * c.chMult[levels - 1]!;
    conv('decoder.conv_in', blockIn, c.zChannels, 3);
    mid('decoder', blockIn);
    // registration order: up.0 … up.4 although they run 4 … 0; block_in flows from the top level down
    const ups: KeyShapes[] = [];
    let res = c.resolution / 2 ** (levels - 1);
    for (let i = levels - 1; i >= 0; i--) {
      const start = keys.length;
      const blockOut = c.ch * c.chMult[i]!;
      for (let b = 0; b <= c.numResBlocks; b++) {
        resnet(`decoder.up.${i}.block.${b}`, blockIn, blockOut);
        blockIn = blockOut;
      }
      if (c.attnResolutions.includes(res)) for (let b = 0; b <= c.numResBlocks; b++) attn(`decoder.up.${i}.attn.${b}`, blockIn);
      if (i !== 0) {
        conv(`decoder.up.${i}.upsample.conv`, blockIn, blockIn, 3);
        res *= 2;
      }
      ups[i] = keys.splice(start);
    }
    for (const u of ups) keys.push(...u);
    norm('decoder.norm_out', blockIn);
    conv('decoder.conv_out', 3, blockIn, 3);
  }
  keys.push(['quantize.embedding.weight', [c.nEmbed, c.embedDim]]);
  if (parts.encoder) conv('quant_conv', c.embedDim, c.zChannels, 1);
  if (parts.decoder) conv('post_quant_conv', c.zChannels, c.embedDim, 1);
  return keys;
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A small fast PRNG (xorshift128+ folded to 32 bits) for reproducible random weights. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: number) {
    this.s0 = seed | 0 || 1;
    this.s1 = 0x9e3779b9;
    this.s2 = 0x243f6a88;
    this.s3 = 0xb7e15162;
    for (let i = 0; i < 16; i++) this.u32();
  }
  u32(): number {
    // xoshiro128**
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }
  /** uniform in [0, 1) */
  next(): number {
    return this.u32() / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
  /** Fills with a zero-mean uniform distribution of standard deviation std, plus mean (xorshift32 inline: fast). */
  fillUniform(a: Float32Array, std: number, mean = 0): Float32Array {
    const scale = (std * Math.sqrt(3)) / 2147483648;
    let x = this.u32() | 1;
    for (let i = 0; i < a.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      a[i] = mean + scale * x; // x is a signed 32-bit integer: uniform in [−2³¹, 2³¹)
    }
    return a;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * Standard deviation of each CLIP weight as clip/model.py initialises it (initialize_parameters and
 * the torch defaults), with norms and biases perturbed around 1 / 0 so nothing is trivially symmetric.
 * Uniform draws of the same variance (fast to make).
 */
export function clipInitStd(name: string, shape: readonly number[], c: ClipSizes = VIT_B32): { std: number; mean?: number } {
  const visual = name.startsWith('visual.');
  const w = visual ? c.vision.width : c.text.width;
  const layers = visual ? c.vision.layers : c.text.layers;
  const projStd = w ** -0.5 * (2 * layers) ** -0.5;
  if (/ln_\w+\.weight$|ln_final\.weight$/.test(name)) return { std: 0.05, mean: 1 };
  if (/ln_\w+\.bias$|ln_final\.bias$/.test(name)) return { std: 0.05 };
  if (name === 'logit_scale') return { std: 0, mean: Math.log(1 / 0.07) };
  if (name === 'token_embedding.weight') return { std: 0.02 };
  if (name === 'positional_embedding') return { std: 0.01 };
  if (name === 'visual.class_embedding' || name === 'visual.positional_embedding' || name === 'visual.proj') return { std: c.vision.width ** -0.5 };
  if (name === 'text_projection') return { std: c.text.width ** -0.5 };
  if (name === 'visual.conv1.weight') return { std: 1 / Math.sqrt(3 * numel(shape.slice(1))) };
  if (name.endsWith('attn.in_proj_weight')) return { std: w ** -0.5 };
  if (name.endsWith('attn.out_proj.weight') || name.endsWith('mlp.c_proj.weight')) return { std: projStd };
  if (name.endsWith('mlp.c_fc.weight')) return { std: (2 * w) ** -0.5 };
  if (name.endsWith('mlp.c_fc.bias')) return { std: 1 / Math.sqrt(3 * w) };
  if (name.endsWith('mlp.c_proj.bias')) return { std: 1 / Math.sqrt(3 * 4 * w) };
  if (name.endsWith('bias')) return { std: 0.02 };
  throw new Error(`no init rule for ${name}`);
}

/**
 * torch's default Conv2d init (kaiming_uniform(a=√5): U(±1/√fan_in) for weight and bias), GroupNorm
 * around 1 / 0, and a codebook of unit-variance entries (a trained codebook's scale, not taming's
 * U(±1/n_embed) start). `outScale` shrinks decoder.conv_out so decoded pixels stay inside (−1, 1).
 */
export function vqganInitStd(name: string, shape: readonly number[], outScale = 1): { std: number; mean?: number } {
  if (name === 'quantize.embedding.weight') return { std: 1 };
  if (/norm\w*\.weight$/.test(name)) return { std: 0.05, mean: 1 };
  if (/norm\w*\.bias$/.test(name)) return { std: 0.05 };
  const fanIn = name.endsWith('.bias') ? null : numel(shape.slice(1));
  const s = (f: number) => 1 / Math.sqrt(3 * f);
  if (fanIn !== null) return { std: s(fanIn) * (name === 'decoder.conv_out.weight' ? outScale : 1) };
  return { std: 0.02 * (name === 'decoder.conv_out.bias' ? outScale : 1) };
}

/** Random float32 arrays for the keys, in order. */
export function randomWeights(keys: KeyShapes, init: (name: string, shape: number[]) => { std: number; mean?: number }, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of keys) {
    const { std, mean = 0 } = init(name, shape);
    out.set(name, rng.fillUniform(new Float32Array(numel(shape)), std, mean));
  }
  return out;
}

/** An in-memory WeightFile (the reader interface the model loaders take), float32 only. */
export function memoryWeightFile(keys: KeyShapes, arrays: Map<string, Float32Array>, path = '<memory>'): WeightFile {
  const tensors = new Map<string, TensorInfo>(keys.map(([name, shape]) => [name, { name, dtype: 'float32', shape: [...shape] }]));
  const get = (name: string) => {
    const a = arrays.get(name);
    if (!a) throw new Error(`${path}: no tensor named '${name}'`);
    return a;
  };
  return {
    path,
    format: 'safetensors',
    tensors,
    float32: get,
    int64: () => {
      throw new Error('float32 only');
    },
    raw: (name) => new Uint8Array(get(name).buffer, get(name).byteOffset, get(name).byteLength),
    close: () => {},
  };
}
