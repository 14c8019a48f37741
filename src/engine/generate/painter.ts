/**
 * What makes one generator of the CLIP-guided family (VQGAN, BigGAN, SIREN): its variables, how they start
 * from a seed, the picture they make, its loss on the CLIP embeddings of the cutouts, and any state of
 * its own a checkpoint must keep. Everything else (text embeddings, cutouts, CLIP, the optimiser, the
 * step loop, snapshots, timelapse, checkpoints / resume, cancel) is the shared loop in generator.ts.
 *
 * The variables are one flat float32 vector (the step graph's input `z`, shaped `varShape`); the
 * optimiser steps it and the checkpoint stores it (as z / zShape).
 */
import { matmul, mul, reduceMean, reduceSum, reshape, transpose, type Graph, type HostArray, type Tensor } from '../graph/index.ts';
import { unitRows } from '../losses.ts';
import type { ParamStore } from '../models/params.ts';
import type { CutoutSpec } from './cutouts.ts';
import type { Prng } from './prng.ts';

export const MODEL_NAMES = ['vqgan', 'biggan', 'siren'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** The tensors a painter's loss sees: K target rows with their sign, coefficient and stop. */
export interface LossInputs {
  z: Tensor;
  /** the cutouts' CLIP embeddings [cutn, D] */
  embeds: Tensor;
  targets: Tensor;
  sign: Tensor;
  coef: Tensor;
  stop: Tensor;
}

export type AuxState = Record<string, Float32Array | number>;

export interface Painter {
  readonly model: ModelName;
  /** the picture's size (a painter may round or fix the requested one) */
  readonly width: number;
  readonly height: number;
  /** shape of the graph input `z` holding the variables */
  readonly varShape: readonly number[];
  /** shapes of the parameter tensors laid end to end in z (AdamP projects each one) */
  readonly paramShapes: readonly (readonly number[])[];
  readonly cut: CutoutSpec;
  /** forward/backward passes per step, gradients averaged (deep-daze's gradient_accumulate_every) */
  readonly accumulate: number;
  /** coefficient of a prompt of weight ±1 (VQGAN sums over cutouts, so 1 / cutn; the others take means) */
  readonly rowScale: number;
  /** what the step graph depends on besides the cutouts and the target slots (session cache key) */
  readonly key: string;
  /** weights the graphs read (loaded while a graph is built) */
  readonly params: readonly ParamStore[];
  /** the picture [1, 3, H, W] in [0, 1] from the variables */
  image(g: Graph, z: Tensor): Tensor;
  /** the scalar loss */
  loss(g: Graph, t: LossInputs): Tensor;
  /** extra inputs of step `i`'s graph (inputs that loss() made) */
  feeds?(i: number): Record<string, HostArray>;
  /** the starting variables (draws from rng: the job's seed fixes them) */
  init(rng: Prng): Promise<Float32Array>;
  /** after each optimiser step (VQGAN: clamp to the codebook's range; BigGAN: update the EMA) */
  afterStep?(z: Float32Array): void;
  /** the variables the shown picture comes from (BigGAN: the EMA); absent: the step's own picture */
  shown?(z: Float32Array): Float32Array;
  /** the painter's own checkpoint state (kept beside the optimiser's) */
  auxState?(): AuxState;
  loadAux?(state: AuxState): void;
  /** added to the PNG metadata */
  metadata(): Record<string, unknown>;
}

/**
 * Mean over cutouts of cos(embed_c, target_k): [K]. With `averaged`, cos(mean_c embed_c, target_k) instead
 * (deep-daze's averaged loss).
 */
export function cutoutCosines(embeds: Tensor, targets: Tensor, averaged = false): Tensor {
  const D = embeds.shape[1]!;
  const e = averaged ? reshape(reduceMean(embeds, [0], false), [1, D]) : embeds;
  const cos = matmul(unitRows(e), transpose(unitRows(targets), [1, 0])); // [cutn | 1, K]
  return reduceMean(cos, [0], false);
}

/** −loss_coef · Σ_k coef_k · sign_k · cos_k: positive prompts pulled, negative ones (text_min) pushed. */
export function weightedSimilarityLoss(cosines: Tensor, t: LossInputs, lossCoef = 100): Tensor {
  return reshape(mul(reduceSum(mul(mul(cosines, t.sign), t.coef), [0], false), -lossCoef), []);
}
