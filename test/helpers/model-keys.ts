/**
 * State-dict key names and shapes of the real models (model-spec appendices A and D), generated from the
 * architecture rules, and random weights for them scaled like the models' own initialisation.
 */
import type { TensorInfo, WeightFile } from '../../src/engine/weights/index.ts';
import { F16_16384, clipTensors, vqganTensors, type ClipHyper, type VqganHyper } from '../../src/engine/models/expected.ts';

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

/** taming's ddconfig, as src/engine/models/expected.ts holds it (inChannels and outCh are always 3 here) */
export type VqganSizes = Omit<VqganHyper, 'inChannels' | 'outCh'>;
export { F16_16384 };

/** clip/model.py `CLIP(...).state_dict()` names and shapes in state_dict order: src/engine/models/expected.ts's list. */
export function clipKeys(c: ClipSizes = VIT_B32): KeyShapes {
  const h: ClipHyper = {
    embedDim: c.embedDim,
    imageSize: c.vision.resolution,
    patch: c.vision.patch,
    visionWidth: c.vision.width,
    visionLayers: c.vision.layers,
    contextLength: c.text.contextLength,
    vocabSize: c.text.vocabSize,
    textWidth: c.text.width,
    textLayers: c.text.layers,
  };
  return clipTensors(h).map((t) => [t.name, t.shape]);
}

/** taming VQModel keys (src/engine/models/expected.ts); the decoder part includes quantize and post_quant_conv. */
export function vqganKeys(c: VqganSizes = F16_16384, parts: { encoder?: boolean; decoder?: boolean } = { encoder: true, decoder: true }): KeyShapes {
  const isEncoder = (n: string) => n.startsWith('encoder.') || n.startsWith('quant_conv.');
  return vqganTensors({ ...c, inChannels: 3, outCh: 3 })
    .filter((t) => (isEncoder(t.name) ? parts.encoder : parts.decoder))
    .map((t) => [t.name, t.shape]);
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
