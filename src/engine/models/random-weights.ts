import { Prng } from '../generate/prng.ts';
import { ParamStore, type ParamArray } from './params.ts';

/** Random weights with the real key names and shapes (benchmarks and real-size tests: shapes cost time, not values). */

export interface ClipShape {
  embedDim: number;
  vision: { width: number; layers: number; patch: number; grid: number };
  text: { width: number; layers: number; contextLength: number; vocabSize: number };
}

export const VIT_B_32: ClipShape = {
  embedDim: 512,
  vision: { width: 768, layers: 12, patch: 32, grid: 7 },
  text: { width: 512, layers: 12, contextLength: 77, vocabSize: 49408 },
};

export interface VqganShape {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  /** levels (0-based) whose blocks carry attention */
  attnLevels: number[];
  zChannels: number;
  embedDim: number;
  nEmbed: number;
  encoder: boolean;
}

export const F16_16384: VqganShape = { ch: 128, chMult: [1, 1, 2, 2, 4], numResBlocks: 2, attnLevels: [4], zChannels: 256, embedDim: 256, nEmbed: 16384, encoder: true };

class Filler {
  readonly arrays = new Map<string, ParamArray>();
  constructor(private readonly rng: Prng) {}

  /** uniform(±1/sqrt(fanIn)) like torch's default init; vectors get 1 ± small noise for norms */
  weight(name: string, shape: number[], fanIn = shape.slice(1).reduce((a, b) => a * b, 1)): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (this.rng.uniform() * 2 - 1) * bound;
    this.arrays.set(name, { data, shape });
  }

  norm(prefix: string, width: number): void {
    const w = new Float32Array(width);
    const b = new Float32Array(width);
    for (let i = 0; i < width; i++) {
      w[i] = 1 + (this.rng.uniform() - 0.5) * 0.1;
      b[i] = (this.rng.uniform() - 0.5) * 0.1;
    }
    this.arrays.set(`${prefix}.weight`, { data: w, shape: [width] });
    this.arrays.set(`${prefix}.bias`, { data: b, shape: [width] });
  }

  linear(prefix: string, out: number, inp: number): void {
    this.weight(`${prefix}.weight`, [out, inp]);
    this.weight(`${prefix}.bias`, [out], inp);
  }

  conv(prefix: string, out: number, inp: number, k: number): void {
    this.weight(`${prefix}.weight`, [out, inp, k, k]);
    this.weight(`${prefix}.bias`, [out], inp * k * k);
  }
}

function clipBlock(f: Filler, prefix: string, width: number): void {
  f.norm(`${prefix}.ln_1`, width);
  f.norm(`${prefix}.ln_2`, width);
  for (const p of ['q', 'k', 'v', 'out']) f.linear(`${prefix}.attn.${p}`, width, width);
  f.linear(`${prefix}.mlp.c_fc`, 4 * width, width);
  f.linear(`${prefix}.mlp.c_proj`, width, 4 * width);
}

/** CLIP weights in the canonical naming of clip-weights.ts (q/k/v split). */
export function randomClipParams(shape: ClipShape = VIT_B_32, seed = 1): ParamStore {
  const f = new Filler(new Prng(seed));
  const { vision: v, text: t } = shape;
  f.weight('visual.conv1.weight', [v.width, 3, v.patch, v.patch]);
  f.weight('visual.class_embedding', [v.width], v.width);
  f.weight('visual.positional_embedding', [v.grid * v.grid + 1, v.width], v.width);
  f.norm('visual.ln_pre', v.width);
  for (let i = 0; i < v.layers; i++) clipBlock(f, `visual.transformer.resblocks.${i}`, v.width);
  f.norm('visual.ln_post', v.width);
  f.weight('visual.proj', [v.width, shape.embedDim], v.width);
  f.weight('token_embedding.weight', [t.vocabSize, t.width], 1);
  f.weight('positional_embedding', [t.contextLength, t.width], t.width);
  for (let i = 0; i < t.layers; i++) clipBlock(f, `transformer.resblocks.${i}`, t.width);
  f.norm('ln_final', t.width);
  f.weight('text_projection', [t.width, shape.embedDim], t.width);
  return new ParamStore(f.arrays, `random CLIP (${v.width}/${v.layers} vision, ${t.width}/${t.layers} text)`);
}

function resnet(f: Filler, prefix: string, inp: number, out: number): void {
  f.norm(`${prefix}.norm1`, inp);
  f.conv(`${prefix}.conv1`, out, inp, 3);
  f.norm(`${prefix}.norm2`, out);
  f.conv(`${prefix}.conv2`, out, out, 3);
  if (inp !== out) f.conv(`${prefix}.nin_shortcut`, out, inp, 1);
}

function attn(f: Filler, prefix: string, c: number): void {
  f.norm(`${prefix}.norm`, c);
  for (const p of ['q', 'k', 'v', 'proj_out']) f.conv(`${prefix}.${p}`, c, c, 1);
}

/** taming VQModel weights (decoder, quantizer, optionally encoder) with the checkpoint's key names. */
export function randomVqganParams(shape: VqganShape = F16_16384, seed = 2): ParamStore {
  const f = new Filler(new Prng(seed));
  const { ch, chMult, numResBlocks: nrb, zChannels: zc, embedDim } = shape;
  const levels = chMult.length;
  f.weight('quantize.embedding.weight', [shape.nEmbed, embedDim], 1);
  f.conv('post_quant_conv', zc, embedDim, 1);
  let blockIn = ch * chMult[levels - 1]!;
  f.conv('decoder.conv_in', blockIn, zc, 3);
  resnet(f, 'decoder.mid.block_1', blockIn, blockIn);
  attn(f, 'decoder.mid.attn_1', blockIn);
  resnet(f, 'decoder.mid.block_2', blockIn, blockIn);
  for (let level = levels - 1; level >= 0; level--) {
    const blockOut = ch * chMult[level]!;
    for (let b = 0; b <= nrb; b++) {
      resnet(f, `decoder.up.${level}.block.${b}`, blockIn, blockOut);
      blockIn = blockOut;
      if (shape.attnLevels.includes(level)) attn(f, `decoder.up.${level}.attn.${b}`, blockIn);
    }
    if (level !== 0) f.conv(`decoder.up.${level}.upsample.conv`, blockIn, blockIn, 3);
  }
  f.norm('decoder.norm_out', blockIn);
  f.conv('decoder.conv_out', 3, blockIn, 3);
  if (shape.encoder) {
    f.conv('encoder.conv_in', ch, 3, 3);
    let cin = ch;
    for (let level = 0; level < levels; level++) {
      const cout = ch * chMult[level]!;
      for (let b = 0; b < nrb; b++) {
        resnet(f, `encoder.down.${level}.block.${b}`, cin, cout);
        cin = cout;
        if (shape.attnLevels.includes(level)) attn(f, `encoder.down.${level}.attn.${b}`, cin);
      }
      if (level !== levels - 1) f.conv(`encoder.down.${level}.downsample.conv`, cin, cin, 3);
    }
    resnet(f, 'encoder.mid.block_1', cin, cin);
    attn(f, 'encoder.mid.attn_1', cin);
    resnet(f, 'encoder.mid.block_2', cin, cin);
    f.norm('encoder.norm_out', cin);
    f.conv('encoder.conv_out', zc, cin, 3);
    f.conv('quant_conv', embedDim, zc, 1);
  }
  return new ParamStore(f.arrays, `random VQGAN (ch ${ch}, mult ${chMult.join(',')})`);
}
