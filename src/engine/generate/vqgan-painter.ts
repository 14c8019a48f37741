/**
 * VQGAN+CLIP (generate.py): the variables are the latent z [1, E, h, w]; it starts from random codebook
 * entries, an init image's encoding, noise, or a given latent; after each step z is clamped to the
 * codebook's range; the loss is the spherical distance with stops plus the init-weight term.
 */
import { add, clampWithGrad, div, mul, meanAll, maximum, reduceSum, replaceGrad, reshape, square, sub, unsqueeze, type Graph, type HostArray, type Tensor } from '../graph/index.ts';
import { sphericalDistance } from '../losses.ts';
import type { ClipModel } from '../models/clip.ts';
import type { VqganModel } from '../models/vqgan.ts';
import type { CutoutSpec } from './cutouts.ts';
import { loadImageCHW } from './images.ts';
import type { LossInputs, Painter } from './painter.ts';
import type { Prng } from './prng.ts';
import { roundSize, type GenerateSettings } from './settings.ts';

export class VqganPainter implements Painter {
  readonly model = 'vqgan' as const;
  readonly width: number;
  readonly height: number;
  readonly varShape: [number, number, number, number];
  readonly paramShapes: number[][];
  readonly cut: CutoutSpec;
  readonly accumulate = 1;
  readonly rowScale: number;
  readonly key = 'vqgan';
  readonly params;
  private readonly anchor: Float32Array;
  private readonly zMin: Float32Array;
  private readonly zMax: Float32Array;

  constructor(
    clip: ClipModel,
    private readonly vqgan: VqganModel,
    private readonly s: GenerateSettings,
    /** quant_conv(encoder(2x − 1)) of an image [1, 3, H, W] in [0, 1] (an engine session) */
    private readonly encode: (image: Float32Array, width: number, height: number) => Promise<Float32Array>,
  ) {
    const { factor, embedDim: E } = vqgan.config;
    const { width, height } = roundSize(s.width, s.height, factor);
    this.width = width;
    this.height = height;
    this.varShape = [1, E, height / factor, width / factor];
    this.paramShapes = [this.varShape]; // AdamP projects z as the 4-D tensor it is
    this.cut = { method: s.cutMethod, cutn: s.cutn, cutSize: clip.inputSize, cutPow: s.cutPow, augments: s.augments, width, height };
    this.rowScale = 1 / s.cutn;
    this.params = [clip.params, vqgan.params];
    this.anchor = new Float32Array(this.varShape.reduce((a, b) => a * b, 1));
    const { min, max } = vqgan.codebookRange();
    this.zMin = min;
    this.zMax = max;
  }

  image(g: Graph, z: Tensor): Tensor {
    return synth(g, this.vqgan, z);
  }

  /**
   * Per target row r with sign σ, coefficient a (= |w| / rows of its prompt / cutn) and stop s:
   *   Σ_cutouts Σ_r a_r · replace_grad(σ_r·d, max(σ_r·d, s_r))   (the reference Prompt.forward, summed)
   * plus init_coef · mean((z − anchor)²).
   */
  loss(g: Graph, t: LossInputs): Tensor {
    return vqganLoss(g, t, this.varShape);
  }

  feeds(i: number): Record<string, HostArray> {
    return { init_anchor: this.anchor, init_coef: Float32Array.of(this.s.initWeight ? this.s.initWeight / (2 * (2 * i + 1)) : 0) };
  }

  async init(rng: Prng): Promise<Float32Array> {
    const { s, vqgan } = this;
    const [, E, h, w] = this.varShape;
    if (s.initZ) {
      if (s.initZ.length !== E * h * w) throw new Error(`the starting latent has ${s.initZ.length} values but a ${this.width}×${this.height} picture needs ${E * h * w}`);
      return s.initZ.slice();
    }
    let image: Float32Array | null = null;
    if (s.initImage) image = await loadImageCHW(s.initImage, this.width, this.height);
    else if (s.initNoise) image = noiseImage(rng, s.initNoise, this.width, this.height);
    if (image) return (await this.encode(image, this.width, this.height)).slice();
    // uniformly random codebook entries
    const z = new Float32Array(E * h * w);
    const cb = vqgan.codebook;
    for (let p = 0; p < h * w; p++) {
      const k = rng.int(vqgan.config.nEmbed);
      for (let c = 0; c < E; c++) z[c * h * w + p] = cb[k * E + c]!;
    }
    return z;
  }

  afterStep(z: Float32Array): void {
    const [, E, h, w] = this.varShape;
    const hw = h * w;
    for (let c = 0; c < E; c++) {
      const lo = this.zMin[c]!;
      const hi = this.zMax[c]!;
      for (let p = c * hw; p < (c + 1) * hw; p++) z[p] = Math.min(hi, Math.max(lo, z[p]!));
    }
  }

  metadata(): Record<string, unknown> {
    const s = this.s;
    return { cutMethod: s.cutMethod, cutPow: s.cutPow, augments: s.augments, initWeight: s.initWeight };
  }
}

/** Init noise images of the reference: uniform random pixels, or random linear colour ramps. */
export function noiseImage(rng: Prng, kind: 'pixels' | 'gradient', width: number, height: number): Float32Array {
  const P = width * height;
  const out = new Float32Array(3 * P);
  if (kind === 'pixels') {
    for (let i = 0; i < out.length; i++) out[i] = rng.uniform();
    return out;
  }
  const horizontal = rng.bernoulli(0.5);
  for (let c = 0; c < 3; c++) {
    const a = rng.uniform();
    const b = rng.uniform();
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const t = horizontal ? x / Math.max(1, width - 1) : y / Math.max(1, height - 1);
        out[c * P + y * width + x] = a + (b - a) * t;
      }
    }
  }
  return out;
}

/** The image a latent decodes to: clamp_with_grad((decoder(quantize_st(z)) + 1) / 2, 0, 1). */
export function synth(g: Graph, vqgan: VqganModel, z: Tensor): Tensor {
  return clampWithGrad(div(add(vqgan.decode(g, vqgan.quantize(g, z).zq), 1), 2), 0, 1);
}

/**
 * Per target row r with sign σ, coefficient a (= |w| / rows of its prompt / cutn) and stop s:
 *   Σ_cutouts Σ_r a_r · replace_grad(σ_r·d, max(σ_r·d, s_r))   (the reference Prompt.forward, summed)
 * plus init_coef · mean((z − init_anchor)²) (both inputs).
 */
export function vqganLoss(g: Graph, t: LossInputs, zShape: readonly number[]): Tensor {
  const d = sphericalDistance(unsqueeze(t.embeds, [1]), unsqueeze(t.targets, [0])); // [cutn, K]
  const signed = mul(d, t.sign);
  const stopped = replaceGrad(signed, maximum(signed, t.stop));
  const loss = reshape(reduceSum(mul(stopped, t.coef), [0, 1], false), []);
  const anchor = g.input('init_anchor', zShape);
  const initCoef = g.input('init_coef', []);
  return add(loss, mul(meanAll(square(sub(t.z, anchor))), initCoef));
}
