/**
 * big-sleep's BigGAN latents (lucidrains/big-sleep): `normu` [L+1, zDim] and class logits `cls`
 * [L+1, numClasses], one row for gen_z and one per GenBlock (L = number of GenBlocks). The classes are
 * sigmoid(cls), or with `max_classes` its differentiable top-k; the image is (G(normu, classes, 1) + 1) / 2.
 */
import {
  GraphError,
  add,
  cast,
  concat,
  div,
  equal,
  mul,
  or,
  reduceMax,
  sigmoid,
  slice,
  softmax,
  where,
  type Graph,
  type Tensor,
} from '../graph/index.ts';
import type { BigganModel } from './biggan.ts';

export interface BigSleepClassOptions {
  /** keep the top `maxClasses` classes of each row (differentiable_topk); absent: sigmoid */
  maxClasses?: number;
  /** softmax temperature of the top-k (big-sleep's class_temperature, default 2) */
  classTemperature?: number;
}

/**
 * big-sleep's differentiable_topk(x, k, temperature), row-wise: k rounds of softmax(x / T) over the classes
 * not yet taken; each round takes its most probable class, with that probability as its value (the gradient
 * flows through the probabilities; which class wins is a constant of the step).
 */
export function differentiableTopK(x: Tensor, k: number, temperature: number): Tensor {
  if (x.rank !== 2) throw new GraphError(`differentiableTopK: expects [rows, classes], got ${x}`);
  if (!Number.isInteger(k) || k < 1 || k > x.shape[1]!) throw new GraphError(`max classes must be an integer in [1, ${x.shape[1]}], got ${k}`);
  if (!(temperature > 0)) throw new GraphError(`class temperature must be positive, got ${temperature}`);
  const scaled = div(x, temperature);
  let taken: Tensor | undefined;
  let out: Tensor | undefined;
  for (let i = 0; i < k; i++) {
    const masked = taken ? where(taken, -Infinity, scaled) : scaled;
    const pick = equal(masked, reduceMax(masked, [1], true));
    const value = mul(softmax(masked, -1), cast(pick, 'float32'));
    out = out ? add(out, value) : value;
    taken = taken ? or(taken, pick) : pick;
  }
  return out!;
}

/** The class vectors [L+1, numClasses] from the logits. */
export function bigSleepClasses(cls: Tensor, opts: BigSleepClassOptions = {}): Tensor {
  return opts.maxClasses === undefined ? sigmoid(cls) : differentiableTopK(cls, opts.maxClasses, opts.classTemperature ?? 2);
}

/** Checks the latent shapes against the model: normu [L+1, zDim], cls [L+1, numClasses]. */
export function bigSleepShapes(model: BigganModel): { normu: [number, number]; cls: [number, number] } {
  return { normu: [model.numLatents, model.config.zDim], cls: [model.numLatents, model.config.numClasses] };
}

/**
 * big-sleep's image: (G + 1) / 2 in [0, 1], [1, 3, S, S], at truncation 1, where G takes row 0 of
 * cat(normu, embed(classes)) for gen_z and row i + 1 for GenBlock i.
 */
export function bigSleepImage(g: Graph, model: BigganModel, normu: Tensor, cls: Tensor, opts: BigSleepClassOptions = {}): Tensor {
  const want = bigSleepShapes(model);
  const same = (t: Tensor, s: readonly number[]) => t.rank === 2 && t.shape[0] === s[0] && t.shape[1] === s[1];
  if (!same(normu, want.normu)) throw new GraphError(`big-sleep normu should be [${want.normu.join(',')}], got ${normu}`);
  if (!same(cls, want.cls)) throw new GraphError(`big-sleep class logits should be [${want.cls.join(',')}], got ${cls}`);
  const classes = bigSleepClasses(cls, opts);
  const cond = concat([normu, model.embed(g, classes)], 1);
  const rows = Array.from({ length: model.numLatents }, (_, i) => slice(cond, [i], [i + 1], [0]));
  const image = model.generator(g, (i) => rows[i]!, 1);
  return div(add(image, 1), 2);
}
