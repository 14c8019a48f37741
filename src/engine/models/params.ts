import { GraphError, type Graph, type Tensor } from '../graph/index.ts';

export interface ParamArray {
  data: Float32Array;
  shape: number[];
}

/** Named float32 weights a model reads once and turns into graph constants. */
export class ParamStore {
  private readonly graphs = new WeakMap<Graph, Map<string, Tensor>>();

  constructor(
    private readonly arrays: Map<string, ParamArray>,
    readonly source: string,
  ) {}

  has(name: string): boolean {
    return this.arrays.has(name);
  }

  names(): string[] {
    return [...this.arrays.keys()];
  }

  array(name: string, shape?: readonly number[]): ParamArray {
    const a = this.arrays.get(name);
    if (!a) throw new GraphError(`${this.source}: missing weight "${name}"`);
    if (shape && (shape.length !== a.shape.length || shape.some((d, i) => d !== a.shape[i]))) {
      throw new GraphError(`${this.source}: weight "${name}" has shape [${a.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return a;
  }

  shape(name: string): number[] {
    return this.array(name).shape;
  }

  /** The weight as a constant of graph g (one constant per graph, shared by every use). */
  t(g: Graph, name: string, shape?: readonly number[]): Tensor {
    let m = this.graphs.get(g);
    if (!m) this.graphs.set(g, (m = new Map()));
    let t = m.get(name);
    if (!t) {
      const a = this.array(name, shape);
      t = g.constant(a.data, a.shape, name);
      m.set(name, t);
    }
    return t;
  }

  /** Count of distinct indices N in keys like `${prefix}N.` */
  countIndexed(prefix: string): number {
    let n = 0;
    while ([...this.arrays.keys()].some((k) => k.startsWith(`${prefix}${n}.`))) n++;
    return n;
  }

  bytes(): number {
    let b = 0;
    for (const a of this.arrays.values()) b += a.data.byteLength;
    return b;
  }
}
