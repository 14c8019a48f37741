/**
 * SIREN as deep-daze paints with it (siren-pytorch's SirenNet inside a SirenWrapper): an MLP from the
 * (y, x) coordinates of every pixel to RGB, sin activations, and no pretrained weights — the network's
 * own weights are the variables a job optimises. So here the weights are graph INPUTS (one per
 * parameter, named as SirenNet.named_parameters()), and grad() gives d loss / d weight.
 *
 *   h₀ = grid [H·W, 2];  hᵢ₊₁ = sin(w0ᵢ · (hᵢ Wᵢᵀ + bᵢ))  (w0₀ = w0_initial, others w0)
 *   raw = h_L W_lastᵀ + b_last  (identity final activation) → [1, 3, H, W]
 *   image = norm_siren_output(raw) = clamp((raw + 1) / 2, 0, 1)
 *
 * The flat layout (the parameters end to end, in named_parameters order) is what an optimiser steps;
 * feeds() cuts it into per-input views without copying.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Prng } from '../generate/prng.ts';
import { GraphError, add, clip, gemm, mul, reshape, sin, transpose, type Graph, type Tensor } from '../graph/index.ts';
import { openWeights } from '../weights/index.ts';

export interface SirenConfig {
  numLayers: number;
  dimHidden: number;
  /** w0 of the hidden layers and of the last layer's initialisation */
  w0: number;
  /** w0 of the first layer */
  w0Initial: number;
  width: number;
  height: number;
}

/** deep-daze / the issue: 16 layers × 256, first-layer w0 = 30, others 1. */
export const SIREN_DEFAULTS = { numLayers: 16, dimHidden: 256, w0: 1, w0Initial: 30 } as const;

const DIM_IN = 2;
const DIM_OUT = 3;
/** siren-pytorch's c in the init bound sqrt(c / dim) / w0 */
const INIT_C = 6;

export interface SirenParam {
  /** as SirenNet.named_parameters(): layers.{i}.weight|bias, last_layer.weight|bias */
  name: string;
  shape: number[];
  offset: number;
  size: number;
  /** siren-pytorch's init: uniform(−bound, bound) for weight and bias alike */
  bound: number;
}

/** The parameters in named_parameters order, their place in the flat vector and their init bounds. */
export function sirenLayout(cfg: SirenConfig): SirenParam[] {
  checkConfig(cfg);
  const out: SirenParam[] = [];
  let offset = 0;
  const push = (name: string, shape: number[], bound: number) => {
    const size = shape.reduce((a, b) => a * b, 1);
    out.push({ name, shape, offset, size, bound });
    offset += size;
  };
  for (let i = 0; i < cfg.numLayers; i++) {
    const dimIn = i === 0 ? DIM_IN : cfg.dimHidden;
    const bound = i === 0 ? 1 / dimIn : Math.sqrt(INIT_C / dimIn) / cfg.w0;
    push(`layers.${i}.weight`, [cfg.dimHidden, dimIn], bound);
    push(`layers.${i}.bias`, [cfg.dimHidden], bound);
  }
  const lastBound = Math.sqrt(INIT_C / cfg.dimHidden) / cfg.w0;
  push('last_layer.weight', [DIM_OUT, cfg.dimHidden], lastBound);
  push('last_layer.bias', [DIM_OUT], lastBound);
  return out;
}

/**
 * SirenWrapper's coordinates: torch.linspace(−1, 1) over the height then the width, meshgrid 'ij',
 * [H·W, 2] rows (y, x). linspace as torch's float32 CPU kernel computes it: from both ends, step
 * rounded to float32, one fused multiply-add per value (this matches the fixture's grid bit for bit).
 */
export function sirenGrid(height: number, width: number): Float32Array {
  const ys = linspace(-1, 1, height);
  const xs = linspace(-1, 1, width);
  const out = new Float32Array(height * width * 2);
  for (let i = 0; i < height; i++) {
    for (let j = 0; j < width; j++) {
      out[2 * (i * width + j)] = ys[i]!;
      out[2 * (i * width + j) + 1] = xs[j]!;
    }
  }
  return out;
}

function linspace(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const step = Math.fround((end - start) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? start + step * i : end - step * (steps - i - 1);
  return out;
}

/** deep-daze's norm_siren_output: ((x + 1) · 0.5).clamp(0, 1) (the gradient passes inside [0, 1]). */
export function normSirenOutput(x: Tensor): Tensor {
  return clip(mul(add(x, 1), 0.5), 0, 1);
}

export class SirenNet {
  readonly layout: readonly SirenParam[];

  /** `params` is the flat parameter vector in layout order (owned by the net; an optimiser may step it). */
  constructor(
    readonly config: SirenConfig,
    readonly params: Float32Array,
  ) {
    this.layout = sirenLayout(config);
    const want = this.size;
    if (params.length !== want) throw new GraphError(`SIREN: ${params.length} parameters given, the config needs ${want}`);
  }

  get size(): number {
    const last = this.layout[this.layout.length - 1]!;
    return last.offset + last.size;
  }

  /** The parameter shapes in layout order (AdamP's projection works per parameter tensor). */
  get shapes(): number[][] {
    return this.layout.map((p) => [...p.shape]);
  }

  /** A fresh network drawn as siren-pytorch draws it (uniform ±bound per tensor, weight then bias), from `seed`. */
  static init(config: SirenConfig, seed: number): SirenNet {
    const layout = sirenLayout(config);
    const last = layout[layout.length - 1]!;
    const params = new Float32Array(last.offset + last.size);
    const rng = new Prng(seed);
    for (const p of layout) {
      for (let k = 0; k < p.size; k++) params[p.offset + k] = rng.range(-p.bound, p.bound);
    }
    return new SirenNet(config, params);
  }

  /** A siren folder: config.json (num_layers, dim_hidden, w0, w0_initial, width, height) + weights.safetensors. */
  static async load(dir: string): Promise<SirenNet> {
    const config = readSirenConfig(dir);
    const file = path.join(dir, 'weights.safetensors');
    if (!fs.existsSync(file)) throw new Error(`no SIREN weights in ${dir} (expected weights.safetensors)`);
    const layout = sirenLayout(config);
    const wf = await openWeights(file);
    try {
      const extra = [...wf.tensors.keys()].filter((k) => !layout.some((p) => p.name === k));
      if (extra.length) throw new Error(`${file}: unexpected tensors ${extra.slice(0, 4).join(', ')} for a ${config.numLayers}-layer SIREN (config.json num_layers)`);
      const last = layout[layout.length - 1]!;
      const params = new Float32Array(last.offset + last.size);
      for (const p of layout) {
        const info = wf.tensors.get(p.name);
        if (!info) throw new Error(`${file}: missing tensor ${p.name}`);
        if (info.shape.length !== p.shape.length || info.shape.some((d, i) => d !== p.shape[i])) {
          throw new Error(`${file}: ${p.name} has shape [${info.shape.join(',')}], config.json gives [${p.shape.join(',')}]`);
        }
        params.set(wf.float32(p.name), p.offset);
      }
      return new SirenNet(config, params);
    } finally {
      wf.close();
    }
  }

  /**
   * Feeds for the inputs made by inputs(g, prefix): per-parameter views (no copies) of a flat vector
   * laid out like this net (default: its own parameters).
   */
  feeds(flat: Float32Array = this.params, prefix = ''): Record<string, Float32Array> {
    if (flat.length !== this.size) throw new GraphError(`SIREN: ${flat.length} values for ${this.size} parameters`);
    return Object.fromEntries(this.layout.map((p) => [prefix + p.name, flat.subarray(p.offset, p.offset + p.size)]));
  }

  /** One float32 graph input per parameter, named prefix + the parameter's name; keyed by the parameter's name. */
  inputs(g: Graph, prefix = ''): Record<string, Tensor> {
    return Object.fromEntries(this.layout.map((p) => [p.name, g.input(prefix + p.name, p.shape)]));
  }

  /** The network's raw output on the coordinate grid, [1, 3, H, W]. */
  forward(g: Graph, w: Readonly<Record<string, Tensor>>): Tensor {
    const { numLayers, w0, w0Initial, width, height } = this.config;
    const param = (name: string) => {
      const t = w[name];
      if (!t) throw new GraphError(`SIREN: no tensor for ${name}`);
      return t;
    };
    return g.scope('siren', () => {
      let h = g.constant(sirenGrid(height, width), [height * width, DIM_IN], 'siren_grid');
      for (let i = 0; i < numLayers; i++) {
        const k = i === 0 ? w0Initial : w0;
        // sin(w0 · (h Wᵀ + b)) with w0 folded into Gemm's alpha and beta
        h = g.scope(`layers.${i}`, () => sin(gemm(h, param(`layers.${i}.weight`), param(`layers.${i}.bias`), { transB: true, alpha: k, beta: k })));
      }
      const out = gemm(h, param('last_layer.weight'), param('last_layer.bias'), { transB: true });
      return reshape(transpose(out, [1, 0]), [1, DIM_OUT, height, width]);
    });
  }

  /** norm_siren_output(forward): the picture in [0, 1], [1, 3, H, W]. */
  image(g: Graph, w: Readonly<Record<string, Tensor>>): Tensor {
    return normSirenOutput(this.forward(g, w));
  }

  /** Gradient name of a parameter in the fixture / inspect files: grad__layers_0_weight. */
  static gradName(param: string): string {
    return `grad__${param.replace(/\./g, '_')}`;
  }
}

/** Reads and checks a siren folder's config.json. */
export function readSirenConfig(dir: string): SirenConfig {
  const file = path.join(dir, 'config.json');
  if (!fs.existsSync(file)) throw new Error(`no config.json in ${dir}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  const num = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: "${key}" must be a number`);
    return v;
  };
  const cfg: SirenConfig = {
    numLayers: num('num_layers', SIREN_DEFAULTS.numLayers),
    dimHidden: num('dim_hidden', SIREN_DEFAULTS.dimHidden),
    w0: num('w0', SIREN_DEFAULTS.w0),
    w0Initial: num('w0_initial', SIREN_DEFAULTS.w0Initial),
    width: num('width'),
    height: num('height'),
  };
  try {
    checkConfig(cfg);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return cfg;
}

function checkConfig(cfg: SirenConfig): void {
  for (const k of ['numLayers', 'dimHidden', 'width', 'height'] as const) {
    if (!Number.isInteger(cfg[k]) || cfg[k] < 1) throw new GraphError(`SIREN ${k} must be a positive integer, got ${cfg[k]}`);
  }
  for (const k of ['w0', 'w0Initial'] as const) {
    if (!Number.isFinite(cfg[k]) || cfg[k] <= 0) throw new GraphError(`SIREN ${k} must be a positive number, got ${cfg[k]}`);
  }
}
