/**
 * The optimisers of the reference scripts over a flat vector: torch.optim's update rules and defaults,
 * and torch_optimizer's for AdamP and DiffGrad (generate.py and deep-daze use those two).
 */

export const OPTIMISERS = ['Adam', 'AdamW', 'Adagrad', 'Adamax', 'RMSprop', 'RAdam', 'AdamP', 'DiffGrad'] as const;
export type OptimiserName = (typeof OPTIMISERS)[number];

export type OptimiserState = Record<string, Float32Array | number>;

export interface OptimiserOptions {
  /**
   * The shapes of the parameter tensors laid end to end in the vector (default: one 1-D tensor of all
   * of it). Only AdamP looks at them: it projects the update of each tensor of rank > 1.
   */
  shapes?: readonly (readonly number[])[];
  /** AdamP and DiffGrad: torch_optimizer's weight_decay (default 0); the others keep their torch.optim defaults */
  weightDecay?: number;
  /** AdamP: Nesterov momentum (default false) */
  nesterov?: boolean;
}

export interface Optimiser {
  readonly name: OptimiserName;
  step(z: Float32Array, grad: Float32Array): void;
  state(): OptimiserState;
  load(state: OptimiserState): void;
}

abstract class Base implements Optimiser {
  abstract readonly name: OptimiserName;
  protected t = 0;
  protected readonly buffers: Record<string, Float32Array> = {};

  constructor(
    protected readonly lr: number,
    size: number,
    names: readonly string[],
  ) {
    for (const n of names) this.buffers[n] = new Float32Array(size);
  }

  abstract step(z: Float32Array, grad: Float32Array): void;

  state(): OptimiserState {
    const s: OptimiserState = { t: this.t };
    for (const [k, v] of Object.entries(this.buffers)) s[k] = v.slice();
    return s;
  }

  load(state: OptimiserState): void {
    this.t = Number(state.t ?? 0);
    for (const [k, v] of Object.entries(this.buffers)) {
      const src = state[k];
      if (!(src instanceof Float32Array) || src.length !== v.length) throw new Error(`optimiser state "${k}" is missing or has the wrong size`);
      v.set(src);
    }
  }
}

class Adam extends Base {
  constructor(
    lr: number,
    size: number,
    readonly name: 'Adam' | 'AdamW' = 'Adam',
    private readonly weightDecay = name === 'AdamW' ? 0.01 : 0,
  ) {
    super(lr, size, ['m', 'v']);
  }

  step(z: Float32Array, g: Float32Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = Math.sqrt(1 - b2 ** this.t);
    const { m, v } = this.buffers as { m: Float32Array; v: Float32Array };
    const decay = 1 - this.lr * this.weightDecay;
    for (let i = 0; i < z.length; i++) {
      const gi = g[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      z[i] = z[i]! * decay - ((this.lr / bc1) * m[i]!) / (Math.sqrt(v[i]!) / bc2 + eps);
    }
  }
}

class Adagrad extends Base {
  readonly name = 'Adagrad';
  constructor(lr: number, size: number) {
    super(lr, size, ['sum']);
  }
  step(z: Float32Array, g: Float32Array): void {
    this.t++;
    const sum = this.buffers.sum!;
    for (let i = 0; i < z.length; i++) {
      sum[i]! += g[i]! * g[i]!;
      z[i]! -= (this.lr * g[i]!) / (Math.sqrt(sum[i]!) + 1e-10);
    }
  }
}

class Adamax extends Base {
  readonly name = 'Adamax';
  constructor(lr: number, size: number) {
    super(lr, size, ['m', 'u']);
  }
  step(z: Float32Array, g: Float32Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    this.t++;
    const { m, u } = this.buffers as { m: Float32Array; u: Float32Array };
    const clr = this.lr / (1 - b1 ** this.t);
    for (let i = 0; i < z.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      u[i] = Math.max(b2 * u[i]!, Math.abs(g[i]!) + 1e-8);
      z[i]! -= (clr * m[i]!) / u[i]!;
    }
  }
}

class RMSprop extends Base {
  readonly name = 'RMSprop';
  constructor(lr: number, size: number) {
    super(lr, size, ['sq']);
  }
  step(z: Float32Array, g: Float32Array): void {
    const alpha = 0.99;
    this.t++;
    const sq = this.buffers.sq!;
    for (let i = 0; i < z.length; i++) {
      sq[i] = alpha * sq[i]! + (1 - alpha) * g[i]! * g[i]!;
      z[i]! -= (this.lr * g[i]!) / (Math.sqrt(sq[i]!) + 1e-8);
    }
  }
}

class RAdam extends Base {
  readonly name = 'RAdam';
  constructor(lr: number, size: number) {
    super(lr, size, ['m', 'v']);
  }
  step(z: Float32Array, g: Float32Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const t = this.t;
    const { m, v } = this.buffers as { m: Float32Array; v: Float32Array };
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    const rhoInf = 2 / (1 - b2) - 1;
    const rhoT = rhoInf - (2 * t * b2 ** t) / bc2;
    const rect = rhoT > 5 ? Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) : 0;
    for (let i = 0; i < z.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mhat = m[i]! / bc1;
      z[i]! -= rhoT > 5 ? (this.lr * mhat * rect * Math.sqrt(bc2)) / (Math.sqrt(v[i]!) + eps) : this.lr * mhat;
    }
  }
}

/**
 * torch_optimizer.AdamP (Heo et al. 2021): Adam whose update, for a weight tensor that looks scale
 * invariant (its gradient nearly orthogonal to it, per output channel or as a whole), loses its radial
 * component, and whose weight decay is then scaled by wd_ratio. betas (0.9, 0.999), eps 1e-8, delta 0.1,
 * wd_ratio 0.1.
 */
class AdamP extends Base {
  readonly name = 'AdamP';
  private readonly tensors: { offset: number; size: number; rows: number; project: boolean }[] = [];
  private readonly weightDecay: number;
  private readonly nesterov: boolean;

  constructor(lr: number, size: number, opts: OptimiserOptions) {
    super(lr, size, ['m', 'v']);
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    let offset = 0;
    for (const shape of opts.shapes ?? [[size]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      this.tensors.push({ offset, size: n, rows: shape[0] ?? 1, project: shape.length > 1 });
      offset += n;
    }
    if (offset !== size) throw new Error(`AdamP: the shapes hold ${offset} values, the vector has ${size}`);
  }

  step(z: Float32Array, g: Float32Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const stepSize = this.lr / (1 - b1 ** this.t);
    const bc2 = Math.sqrt(1 - b2 ** this.t);
    const { m, v } = this.buffers as { m: Float32Array; v: Float32Array };
    for (const T of this.tensors) {
      const perturb = new Float64Array(T.size);
      for (let k = 0; k < T.size; k++) {
        const i = T.offset + k;
        const gi = g[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        const num = this.nesterov ? b1 * m[i]! + (1 - b1) * gi : m[i]!;
        perturb[k] = num / (Math.sqrt(v[i]!) / bc2 + eps);
      }
      let wd = 1;
      if (T.project) {
        const p = z.subarray(T.offset, T.offset + T.size);
        const gt = g.subarray(T.offset, T.offset + T.size);
        // channel view first, then the whole tensor; the first view that looks scale invariant wins
        for (const rows of [T.rows, 1]) {
          if (projectIfInvariant(p, gt, perturb, rows, eps)) {
            wd = 0.1;
            break;
          }
        }
      }
      const decay = this.weightDecay > 0 ? 1 - this.lr * this.weightDecay * wd : 1;
      for (let k = 0; k < T.size; k++) {
        const i = T.offset + k;
        z[i] = z[i]! * decay - stepSize * perturb[k]!;
      }
    }
  }
}

/**
 * AdamP's test on one view (rows × cols): when max over rows of |cos(grad, p)| < delta / √cols, removes
 * from each row of perturb its component along that row of p and returns true.
 */
function projectIfInvariant(p: Float32Array, g: Float32Array, perturb: Float64Array, rows: number, eps: number): boolean {
  const delta = 0.1;
  const cols = p.length / rows;
  const pNorm = new Float64Array(rows);
  let maxCos = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let gg = 0;
    let pp = 0;
    for (let c = r * cols; c < (r + 1) * cols; c++) {
      dot += g[c]! * p[c]!;
      gg += g[c]! * g[c]!;
      pp += p[c]! * p[c]!;
    }
    pNorm[r] = Math.sqrt(pp) + eps;
    maxCos = Math.max(maxCos, Math.abs(dot) / (Math.sqrt(gg) + eps) / pNorm[r]!);
  }
  if (!(maxCos < delta / Math.sqrt(cols))) return false;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let c = r * cols; c < (r + 1) * cols; c++) dot += (p[c]! / pNorm[r]!) * perturb[c]!;
    for (let c = r * cols; c < (r + 1) * cols; c++) perturb[c]! -= (p[c]! / pNorm[r]!) * dot;
  }
  return true;
}

/**
 * torch_optimizer.DiffGrad (Dubey et al. 2019): Adam whose first moment is scaled per element by the
 * friction sigmoid(|g_prev − g|), with L2 weight decay added to the gradient. betas (0.9, 0.999), eps 1e-8.
 */
class DiffGrad extends Base {
  readonly name = 'DiffGrad';
  constructor(
    lr: number,
    size: number,
    private readonly weightDecay: number,
  ) {
    super(lr, size, ['m', 'v', 'prev']);
  }
  step(z: Float32Array, g: Float32Array): void {
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    this.t++;
    const stepSize = (this.lr * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    const { m, v, prev } = this.buffers as { m: Float32Array; v: Float32Array; prev: Float32Array };
    for (let i = 0; i < z.length; i++) {
      const gi = Math.fround(g[i]! + this.weightDecay * z[i]!);
      m[i] = b1 * m[i]! + (1 - b1) * gi;
      v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
      const dfc = 1 / (1 + Math.exp(-Math.abs(prev[i]! - gi)));
      prev[i] = gi;
      z[i]! -= (stepSize * m[i]! * dfc) / (Math.sqrt(v[i]!) + eps);
    }
  }
}

export function createOptimiser(name: OptimiserName, lr: number, size: number, opts: OptimiserOptions = {}): Optimiser {
  switch (name) {
    case 'Adam':
    case 'AdamW':
      return new Adam(lr, size, name);
    case 'Adagrad':
      return new Adagrad(lr, size);
    case 'Adamax':
      return new Adamax(lr, size);
    case 'RMSprop':
      return new RMSprop(lr, size);
    case 'RAdam':
      return new RAdam(lr, size);
    case 'AdamP':
      return new AdamP(lr, size, opts);
    case 'DiffGrad':
      return new DiffGrad(lr, size, opts.weightDecay ?? 0);
    default:
      throw new Error(`unknown optimiser "${String(name)}": use ${OPTIMISERS.join(', ')}`);
  }
}
