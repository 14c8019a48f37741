/** The optimisers of the reference scripts, with torch.optim's update rules and defaults, over a flat z. */

export const OPTIMISERS = ['Adam', 'AdamW', 'Adagrad', 'Adamax', 'RMSprop', 'RAdam'] as const;
export type OptimiserName = (typeof OPTIMISERS)[number];

export type OptimiserState = Record<string, Float32Array | number>;

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

export function createOptimiser(name: OptimiserName, lr: number, size: number): Optimiser {
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
    default:
      throw new Error(`unknown optimiser "${String(name)}": use ${OPTIMISERS.join(', ')}`);
  }
}
