import {
  Graph,
  add,
  countFlops,
  clampWithGrad,
  div,
  grad,
  maximum,
  meanAll,
  mul,
  reduceMean,
  reduceSum,
  replaceGrad,
  reshape,
  resizeLinear,
  serialize,
  square,
  sub,
  unsqueeze,
  type SerializedModel,
  type Tensor,
} from '../graph/index.ts';
import { sphericalDistance } from '../losses.ts';
import type { ClipModel } from '../models/clip.ts';
import type { VqganModel } from '../models/vqgan.ts';
import { buildCutouts, type CutoutSpec } from './cutouts.ts';

export interface StepGraphSpec {
  /** latent [1, E, h, w] */
  zShape: readonly [number, number, number, number];
  cut: CutoutSpec;
  /** target slots (rows of embeddings the cutouts are pulled toward or pushed from) */
  targets: number;
}

export interface BuiltGraph {
  model: SerializedModel;
  nodeCount: number;
  buildMs: number;
  /** FLOPs of the matrix products and convolutions in one run */
  flops?: number;
}

/** The image a latent decodes to: clamp_with_grad((decoder(quantize_st(z)) + 1) / 2, 0, 1). */
export function synth(g: Graph, vqgan: VqganModel, z: Tensor): Tensor {
  return clampWithGrad(div(add(vqgan.decode(g, vqgan.quantize(g, z).zq), 1), 2), 0, 1);
}

/**
 * One optimisation step as one graph: straight-through quantise → decode → cutouts → CLIP → weighted
 * spherical-distance losses (+ the init-weight term) → d loss / d z. Inputs are z, the targets and the
 * step's random cutout parameters; outputs the loss, its gradient, the image and the mean distances.
 *
 * Loss, per target row r with sign σ, coefficient a (= |w| / rows of its prompt / cutn) and stop s:
 *   Σ_cutouts Σ_r a_r · replace_grad(σ_r·d, max(σ_r·d, s_r))   (the reference Prompt.forward, summed)
 */
export function buildStepGraph(clip: ClipModel, vqgan: VqganModel, spec: StepGraphSpec): BuiltGraph {
  const t0 = performance.now();
  const g = new Graph();
  const z = g.input('z', spec.zShape);
  const img = synth(g, vqgan, z);
  const embeds = encodeCutouts(g, clip, img, spec.cut);
  const K = spec.targets;
  const D = clip.config.embedDim;
  const targets = g.input('targets', [K, D]);
  const sign = g.input('target_sign', [K]);
  const coef = g.input('target_coef', [K]);
  const stop = g.input('target_stop', [K]);
  const d = sphericalDistance(unsqueeze(embeds, [1]), unsqueeze(targets, [0])); // [cutn, K]
  const signed = mul(d, sign);
  const stopped = replaceGrad(signed, maximum(signed, stop));
  let loss = reshape(reduceSum(mul(stopped, coef), [0, 1], false), []);
  const anchor = g.input('init_anchor', spec.zShape);
  const initCoef = g.input('init_coef', []);
  loss = add(loss, mul(meanAll(square(sub(z, anchor))), initCoef));
  const [gz] = grad(loss, [z]);
  g.output(loss, 'loss');
  g.output(gz!, 'grad_z');
  g.output(img, 'image');
  g.output(reduceMean(d, [0], false), 'dist');
  g.output(embeds, 'embeds');
  const model = serialize(g, { name: 'reverie-step' });
  return { model, nodeCount: model.nodeCount, buildMs: performance.now() - t0, flops: countFlops(g) };
}

/** CLIP embeddings of the cutouts of img (resized to the CLIP input when needed by the cutout stage). */
export function encodeCutouts(g: Graph, clip: ClipModel, img: Tensor, cut: CutoutSpec): Tensor {
  const cutouts = buildCutouts(g, img, cut);
  const r = clip.inputSize;
  const sized = cutouts.shape[2] === r ? cutouts : resizeLinear(cutouts, r, r);
  return clip.encodeImage(g, clip.normalize(g, sized));
}

/** A graph that only embeds the cutouts of an image (for image prompts). */
export function buildImageEmbedGraph(clip: ClipModel, cut: CutoutSpec): BuiltGraph {
  const t0 = performance.now();
  const g = new Graph();
  const img = g.input('image', [1, 3, cut.height, cut.width]);
  g.output(encodeCutouts(g, clip, img, cut), 'embeds');
  const model = serialize(g, { name: 'reverie-image-embed' });
  return { model, nodeCount: model.nodeCount, buildMs: performance.now() - t0 };
}

/** quant_conv(encoder(2x − 1)) for an init image x [1,3,H,W] in [0,1]. */
export function buildEncodeGraph(vqgan: VqganModel, width: number, height: number): BuiltGraph {
  const t0 = performance.now();
  const g = new Graph();
  const x = g.input('image', [1, 3, height, width]);
  g.output(vqgan.encode(g, sub(mul(x, 2), 1)), 'z');
  const model = serialize(g, { name: 'reverie-encode' });
  return { model, nodeCount: model.nodeCount, buildMs: performance.now() - t0 };
}
