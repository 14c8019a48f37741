import {
  Graph,
  countFlops,
  grad,
  mul,
  reduceMean,
  resizeLinear,
  serialize,
  sub,
  unsqueeze,
  type SerializedModel,
  type Tensor,
} from '../graph/index.ts';
import { sphericalDistance } from '../losses.ts';
import type { ClipModel } from '../models/clip.ts';
import type { VqganModel } from '../models/vqgan.ts';
import { buildCutouts, type CutoutSpec } from './cutouts.ts';
import type { Painter } from './painter.ts';
import { synth, vqganLoss } from './vqgan-painter.ts';

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

export { synth } from './vqgan-painter.ts';

/** What the step graph needs of a painter (painter.ts). */
export type StepPainter = Pick<Painter, 'image' | 'loss' | 'varShape'>;

/**
 * One optimisation step as one graph: variables → the painter's picture → cutouts → CLIP → the painter's
 * loss → d loss / d z. Inputs are z, the targets and the step's random cutout parameters (and whatever
 * the painter's loss adds); outputs the loss, its gradient, the image, the mean spherical distances and
 * the cutout embeddings.
 */
export function buildPainterStepGraph(clip: ClipModel, painter: StepPainter, spec: { cut: CutoutSpec; targets: number }, name = 'reverie-step'): BuiltGraph {
  const t0 = performance.now();
  const g = new Graph();
  const z = g.input('z', painter.varShape);
  const img = painter.image(g, z);
  const embeds = encodeCutouts(g, clip, img, spec.cut);
  const K = spec.targets;
  const D = clip.config.embedDim;
  const targets = g.input('targets', [K, D]);
  const sign = g.input('target_sign', [K]);
  const coef = g.input('target_coef', [K]);
  const stop = g.input('target_stop', [K]);
  const loss = painter.loss(g, { z, embeds, targets, sign, coef, stop });
  const [gz] = grad(loss, [z]);
  g.output(loss, 'loss');
  g.output(gz!, 'grad_z');
  g.output(img, 'image');
  g.output(reduceMean(sphericalDistance(unsqueeze(embeds, [1]), unsqueeze(targets, [0])), [0], false), 'dist');
  g.output(embeds, 'embeds');
  const model = serialize(g, { name });
  return { model, nodeCount: model.nodeCount, buildMs: performance.now() - t0, flops: countFlops(g) };
}

/** The VQGAN step graph (buildPainterStepGraph with VQGAN's picture and loss). */
export function buildStepGraph(clip: ClipModel, vqgan: VqganModel, spec: StepGraphSpec): BuiltGraph {
  return buildPainterStepGraph(clip, { varShape: spec.zShape, image: (g, z) => synth(g, vqgan, z), loss: (g, t) => vqganLoss(g, t, spec.zShape) }, spec);
}

/** The picture alone from the variables (the shown image of painters that show other variables, e.g. an EMA). */
export function buildRenderGraph(painter: Pick<Painter, 'image' | 'varShape'>): BuiltGraph {
  const t0 = performance.now();
  const g = new Graph();
  g.output(painter.image(g, g.input('z', painter.varShape)), 'image');
  const model = serialize(g, { name: 'reverie-render' });
  return { model, nodeCount: model.nodeCount, buildMs: performance.now() - t0 };
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
