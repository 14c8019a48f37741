/**
 * SIREN+CLIP as lucidrains/deep-daze paints: the variables are the SirenNet's own weights (flat, in
 * named_parameters order), drawn as siren-pytorch draws them from the job's seed. The picture is
 * norm_siren_output(siren(grid)); cutout sizes are uniform in [lower, upper) of the side (0.1, 1.0), resized
 * bilinearly; the loss mixes the averaged-embedding loss and the per-cutout one:
 *   Σ_prompts −100 · sign · (w · cos(text, mean_c cutout_c) + (1 − w) · mean_c cos(text, cutout_c)),  w = 0.3
 * and every step accumulates the gradients of `accumulate` (4) passes with fresh cutouts.
 */
import { add, mul, reshape, slice, type Graph, type Tensor } from '../graph/index.ts';
import type { ClipModel } from '../models/clip.ts';
import { SIREN_DEFAULTS, SirenNet, sirenLayout, type SirenConfig } from '../models/siren.ts';
import type { CutoutSpec } from './cutouts.ts';
import { cutoutCosines, weightedSimilarityLoss, type LossInputs, type Painter } from './painter.ts';
import type { Prng } from './prng.ts';
import type { GenerateSettings } from './settings.ts';

/** deep-daze's defaults (lr, optimiser and batch size = cutouts: settings.ts MODEL_DEFAULTS) */
export const SIREN_PAINT_DEFAULTS = { accumulate: 4, averagingWeight: 0.3, lower: 0.1, upper: 1 } as const;

/** The network's shape: the engine's choice (tests use a tiny one) or the settings', else 16 × 256. */
export type SirenShape = Pick<SirenConfig, 'numLayers' | 'dimHidden' | 'w0' | 'w0Initial'>;

export class SirenPainter implements Painter {
  readonly model = 'siren' as const;
  readonly width: number;
  readonly height: number;
  readonly varShape: [number];
  readonly paramShapes: number[][];
  readonly cut: CutoutSpec;
  readonly accumulate: number;
  readonly rowScale = 1;
  readonly key: string;
  readonly params;
  private readonly net: SirenNet;
  private readonly averaging: number;

  constructor(
    clip: ClipModel,
    private readonly s: GenerateSettings,
    shape: Partial<SirenShape> = {},
  ) {
    const config: SirenConfig = {
      numLayers: s.sirenLayers ?? shape.numLayers ?? SIREN_DEFAULTS.numLayers,
      dimHidden: s.sirenHidden ?? shape.dimHidden ?? SIREN_DEFAULTS.dimHidden,
      w0: shape.w0 ?? SIREN_DEFAULTS.w0,
      w0Initial: shape.w0Initial ?? SIREN_DEFAULTS.w0Initial,
      width: s.width,
      height: s.height,
    };
    // the layout only: the weights themselves are the job's variables
    const last = sirenLayout(config).at(-1)!;
    this.net = new SirenNet(config, new Float32Array(last.offset + last.size));
    this.width = s.width;
    this.height = s.height;
    this.varShape = [this.net.size];
    this.paramShapes = this.net.shapes;
    this.accumulate = s.accumulate ?? SIREN_PAINT_DEFAULTS.accumulate;
    this.averaging = s.averagingWeight ?? SIREN_PAINT_DEFAULTS.averagingWeight;
    this.cut = {
      method: 'deepdaze', cutn: s.cutn, cutSize: clip.inputSize, cutPow: 1, augments: [], width: s.width, height: s.height,
      crop: { bilinear: true, lower: SIREN_PAINT_DEFAULTS.lower, upper: SIREN_PAINT_DEFAULTS.upper },
    };
    this.key = `siren:${config.numLayers}x${config.dimHidden}:${config.w0}:${config.w0Initial}:${s.width}x${s.height}:${this.averaging}`;
    this.params = [clip.params];
  }

  get config(): SirenConfig {
    return this.net.config;
  }

  image(g: Graph, z: Tensor): Tensor {
    const w = Object.fromEntries(this.net.layout.map((p) => [p.name, reshape(slice(z, [p.offset], [p.offset + p.size], [0]), p.shape)]));
    return this.net.image(g, w);
  }

  loss(_g: Graph, t: LossInputs): Tensor {
    const w = this.averaging;
    const averaged = weightedSimilarityLoss(cutoutCosines(t.embeds, t.targets, true), t);
    const general = weightedSimilarityLoss(cutoutCosines(t.embeds, t.targets), t);
    return add(mul(averaged, w), mul(general, 1 - w));
  }

  async init(rng: Prng): Promise<Float32Array> {
    if (this.s.initZ) {
      // a variation: the parent's final weights
      if (this.s.initZ.length !== this.varShape[0]) throw new Error(`the starting weights have ${this.s.initZ.length} values but this SIREN needs ${this.varShape[0]}`);
      return this.s.initZ.slice();
    }
    return SirenNet.init(this.net.config, rng.int(0x7fffffff)).params;
  }

  metadata(): Record<string, unknown> {
    const c = this.net.config;
    return { sirenLayers: c.numLayers, sirenHidden: c.dimHidden, accumulate: this.accumulate, averagingWeight: this.averaging };
  }
}
