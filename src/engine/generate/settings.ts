import type { WeightedPrompt } from '../prompt-parse.ts';
import type { Augment, CutMethod } from './cutouts.ts';
import type { OptimiserName } from './optimisers.ts';

export interface ImagePrompt {
  /** a file path, or the image bytes */
  source: string | Buffer;
  weight: number;
  stop: number;
}

export interface NoisePrompt {
  seed: number;
  weight: number;
}

/** Everything one picture needs, defaults filled (see defaultSettings). */
export interface GenerateSettings {
  /** the generator (default vqgan) */
  model?: 'vqgan' | 'biggan' | 'siren';
  prompts: WeightedPrompt[];
  imagePrompts: ImagePrompt[];
  noisePrompts: NoisePrompt[];
  width: number;
  height: number;
  /** optimisation steps; the final image is the decode after the last step */
  steps: number;
  seed: number;
  cutn: number;
  cutMethod: CutMethod;
  cutPow: number;
  augments: Augment[];
  lr: number;
  optimiser: OptimiserName;
  initImage?: string | Buffer;
  initNoise?: 'pixels' | 'gradient';
  /** a latent to start from (variations), shape [1, E, h, w] */
  initZ?: Float32Array;
  initWeight: number;
  /** snapshot (and checkpoint) every N steps; 0 = never */
  saveEvery: number;
  /** keep snapshots for a timelapse */
  timelapse: boolean;
  /** BigGAN: keep the top k classes of each row (big-sleep's max_classes); absent: sigmoid of all */
  maxClasses?: number;
  /** BigGAN: softmax temperature of that top-k (default 2) */
  classTemperature?: number;
  /** BigGAN: decay of the latents' EMA the picture is drawn from (default 0.99) */
  emaDecay?: number;
  /** BigGAN: bilinear rather than nearest resize of the cutouts */
  bilinear?: boolean;
  /** SIREN: forward/backward passes per step (deep-daze's gradient_accumulate_every, default 4) */
  accumulate?: number;
  /** SIREN: weight of the loss on the cutouts' averaged embedding (deep-daze's averaging_weight, default 0.3) */
  averagingWeight?: number;
  /** SIREN: network depth and width (default 16 × 256) */
  sirenLayers?: number;
  sirenHidden?: number;
}

export const DEFAULTS = {
  width: 256,
  height: 256,
  steps: 200,
  cutn: 32,
  cutMethod: 'latest' as CutMethod,
  cutPow: 1,
  lr: 0.1,
  optimiser: 'Adam' as OptimiserName,
  initWeight: 0,
  saveEvery: 50,
};

/**
 * Each generator's own defaults where a request leaves them out: VQGAN's are generate.py's; BigGAN's
 * big-sleep's (lr 0.07, Adam, 128 cutouts, 256 px); SIREN's deep-daze's (lr 1e-5, AdamP, batches of 4
 * cutouts; 256 px rather than its 512, for a CPU).
 */
export const MODEL_DEFAULTS = {
  vqgan: { lr: DEFAULTS.lr, optimiser: DEFAULTS.optimiser, cutn: DEFAULTS.cutn, size: DEFAULTS.width },
  biggan: { lr: 0.07, optimiser: 'Adam' as OptimiserName, cutn: 128, size: 256 },
  siren: { lr: 1e-5, optimiser: 'AdamP' as OptimiserName, cutn: 4, size: 256 },
} as const;

/** The picture sizes BigGAN-deep is released at (biggan-deep-128/256/512). */
export const BIGGAN_SIZES = [128, 256, 512] as const;

/** Size rounded down to a multiple of the VQGAN factor (at least one token per side). */
export function roundSize(width: number, height: number, factor: number): { width: number; height: number } {
  return { width: Math.max(factor, Math.floor(width / factor) * factor), height: Math.max(factor, Math.floor(height / factor) * factor) };
}
