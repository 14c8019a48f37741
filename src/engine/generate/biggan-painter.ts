/**
 * BigGAN+CLIP as lucidrains/big-sleep paints: the variables are big-sleep's latents, `normu` [L+1, zDim]
 * (N(0, 1)) and the class logits `cls` [L+1, classes] (N(−3.9, 0.3)), one row for gen_z and one per
 * GenBlock, laid flat (normu then cls). The picture is (G(normu, classes) + 1) / 2 with classes =
 * sigmoid(cls) or the differentiable top-k of `maxClasses`. The loss is
 *   lat_loss + cls_loss + Σ_prompts −100 · sign · mean_c cos(text, cutout_c)
 * (negative prompts are big-sleep's text_min: the opposite sign). The picture shown (snapshots, the
 * result) is drawn from the debiased EMA of the latents (decay 0.99), updated after every step.
 */
import { abs, add, maximum, mul, reduceMax, reduceMean, reduceSum, reshape, slice, sqrt, square, sub, div, type Graph, type Tensor } from '../graph/index.ts';
import type { BigganModel } from '../models/biggan.ts';
import { bigSleepClasses, bigSleepImage, type BigSleepClassOptions } from '../models/bigsleep.ts';
import type { ClipModel } from '../models/clip.ts';
import type { CutoutSpec } from './cutouts.ts';
import { cutoutCosines, weightedSimilarityLoss, type AuxState, type LossInputs, type Painter } from './painter.ts';
import type { Prng } from './prng.ts';
import type { GenerateSettings } from './settings.ts';

/** big-sleep's defaults (lr, optimiser and cutouts: settings.ts MODEL_DEFAULTS) */
export const BIGGAN_DEFAULTS = { emaDecay: 0.99, classTemperature: 2 } as const;

export class BigganPainter implements Painter {
  readonly model = 'biggan' as const;
  readonly width: number;
  readonly height: number;
  readonly varShape: [number];
  readonly paramShapes: number[][];
  readonly cut: CutoutSpec;
  readonly accumulate = 1;
  readonly rowScale = 1;
  readonly key: string;
  readonly params;
  private readonly rows: number;
  private readonly zDim: number;
  private readonly classes: number;
  private readonly opts: BigSleepClassOptions;
  private readonly decay: number;
  /** EMA: biased average and decay^updates (big-sleep's EMA.accum) */
  private biased: Float32Array;
  private accum = 1;

  constructor(
    clip: ClipModel,
    private readonly biggan: BigganModel,
    private readonly s: GenerateSettings,
  ) {
    const S = biggan.imageSize;
    this.width = S;
    this.height = S;
    this.rows = biggan.numLatents;
    this.zDim = biggan.config.zDim;
    this.classes = biggan.config.numClasses;
    this.varShape = [this.rows * (this.zDim + this.classes)];
    this.paramShapes = [[this.rows, this.zDim], [this.rows, this.classes]];
    this.opts = s.maxClasses === undefined ? {} : { maxClasses: s.maxClasses, classTemperature: s.classTemperature ?? BIGGAN_DEFAULTS.classTemperature };
    this.decay = s.emaDecay ?? BIGGAN_DEFAULTS.emaDecay;
    this.cut = { method: 'bigsleep', cutn: s.cutn, cutSize: clip.inputSize, cutPow: 1, augments: [], width: S, height: S, crop: { bilinear: s.bilinear ?? false } };
    this.key = `biggan:${S}:${JSON.stringify(this.opts)}`;
    this.params = [clip.params, biggan.params];
    this.biased = new Float32Array(this.varShape[0]);
  }

  private split(z: Tensor): { normu: Tensor; cls: Tensor } {
    const n = this.rows * this.zDim;
    return {
      normu: reshape(slice(z, [0], [n], [0]), [this.rows, this.zDim]),
      cls: reshape(slice(z, [n], [n + this.rows * this.classes], [0]), [this.rows, this.classes]),
    };
  }

  image(g: Graph, z: Tensor): Tensor {
    const { normu, cls } = this.split(z);
    return bigSleepImage(g, this.biggan, normu, cls, this.opts);
  }

  loss(_g: Graph, t: LossInputs): Tensor {
    const { normu, cls } = this.split(t.z);
    const R = this.rows;
    const n = this.zDim;
    // lat_loss: |1 − std(row)| (unbiased) and |mean(row)| averaged over rows, 4 · max(mean(normu²), 1)
    const mean = reduceMean(normu, [1], true);
    const diffs = sub(normu, mean);
    const ss = reduceSum(square(diffs), [1], true);
    const stdUnbiased = sqrt(div(ss, n - 1));
    let lat = add(reduceMean(abs(sub(1, stdUnbiased)), [0, 1], false), reduceMean(abs(mean), [0, 1], false));
    lat = add(lat, mul(maximum(reduceMean(square(normu), [0, 1], false), 1), 4));
    // + Σ_rows (|kurtosis| + |skew|) / rows, with the biased std
    const zs = div(diffs, sqrt(div(ss, n)));
    const z2 = square(zs);
    const skew = reduceMean(mul(z2, zs), [1], false);
    const kurt = sub(reduceMean(square(z2), [1], false), 3);
    lat = add(lat, div(reduceSum(add(abs(kurt), abs(skew)), [0], false), R));
    // cls_loss: mean of (50 · all classes but each row's largest)²
    const classes = bigSleepClasses(cls, this.opts);
    const sq = square(classes);
    const rest = sub(reduceSum(sq, [0, 1], false), reduceSum(reduceMax(sq, [1], false), [0], false));
    const clsLoss = mul(rest, 2500 / (R * Math.max(1, this.classes - 1)));
    const sim = weightedSimilarityLoss(cutoutCosines(t.embeds, t.targets), t);
    return add(add(reshape(lat, []), reshape(clsLoss, [])), sim);
  }

  async init(rng: Prng): Promise<Float32Array> {
    const n = this.rows * this.zDim;
    if (this.s.initZ) {
      // a variation: the parent's final latents
      if (this.s.initZ.length !== this.varShape[0]) throw new Error(`the starting latents have ${this.s.initZ.length} values but this BigGAN needs ${this.varShape[0]}`);
      const z = this.s.initZ.slice();
      this.updateEma(z);
      return z;
    }
    const z = new Float32Array(this.varShape[0]);
    rng.fillNormal(z.subarray(0, n));
    const cls = rng.fillNormal(z.subarray(n), 0.3);
    for (let i = 0; i < cls.length; i++) cls[i] = cls[i]! - 3.9;
    this.updateEma(z);
    return z;
  }

  private updateEma(z: Float32Array): void {
    const d = this.decay;
    this.accum *= d;
    for (let i = 0; i < z.length; i++) this.biased[i] = d * this.biased[i]! + (1 - d) * z[i]!;
  }

  afterStep(z: Float32Array): void {
    this.updateEma(z);
  }

  shown(): Float32Array {
    const k = 1 / (1 - this.accum);
    return this.biased.map((v) => v * k);
  }

  auxState(): AuxState {
    return { ema: this.biased.slice(), emaAccum: this.accum };
  }

  loadAux(state: AuxState): void {
    const ema = state.ema;
    if (!(ema instanceof Float32Array) || ema.length !== this.biased.length || typeof state.emaAccum !== 'number') throw new Error('checkpoint has no BigGAN latent average (ema) of the right size');
    this.biased = ema.slice();
    this.accum = state.emaAccum;
  }

  metadata(): Record<string, unknown> {
    return { ...(this.s.maxClasses !== undefined ? { maxClasses: this.s.maxClasses } : {}), emaDecay: this.decay };
  }
}
