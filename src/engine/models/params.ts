import { GraphError, type Graph, type Tensor } from '../graph/index.ts';

export interface ParamArray {
  data: Float32Array;
  shape: number[];
}

/** Named float32 weights a model reads once and turns into graph constants. */
export class ParamStore {
  private graphs = new WeakMap<Graph, Map<string, Tensor>>();
  private arrays: Map<string, ParamArray> | null;
  private readonly shapes: Map<string, number[]>;
  private loading: Promise<void> | null = null;

  /**
   * @param reload reads the same weights again (from their file, or the same seed): given, the arrays
   *   may be released once ONNX Runtime holds its own copy, and are read again for the next graph.
   */
  constructor(
    arrays: Map<string, ParamArray>,
    readonly source: string,
    private readonly reload?: () => Promise<Map<string, ParamArray>> | Map<string, ParamArray>,
  ) {
    this.arrays = arrays;
    this.shapes = new Map([...arrays].map(([k, a]) => [k, a.shape]));
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  get loaded(): boolean {
    return this.arrays !== null;
  }

  /** Drops the arrays (when they can be read again); the names and shapes stay. */
  release(): boolean {
    if (!this.reload || !this.arrays) return false;
    this.arrays = null;
    this.graphs = new WeakMap();
    return true;
  }

  /** The arrays of a freshly read store, for another store's reload. */
  arraysForReload(): Map<string, ParamArray> {
    if (!this.arrays) throw new GraphError(`${this.source}: weights were released`);
    return this.arrays;
  }

  /** Reads the arrays again after release(). */
  async load(): Promise<void> {
    if (this.arrays) return;
    this.loading ??= (async () => {
      const arrays = await this.reload!();
      for (const [k, shape] of this.shapes) {
        const a = arrays.get(k);
        if (!a || a.shape.join(',') !== shape.join(',')) throw new GraphError(`${this.source}: weight "${k}" changed on disk since it was first read`);
      }
      this.arrays = arrays;
    })().finally(() => (this.loading = null));
    return this.loading;
  }

  array(name: string, shape?: readonly number[]): ParamArray {
    if (!this.arrays) throw new GraphError(`${this.source}: weights were released; load() them before building a graph`);
    const a = this.arrays.get(name);
    if (!a) throw new GraphError(`${this.source}: missing weight "${name}"`);
    if (shape && (shape.length !== a.shape.length || shape.some((d, i) => d !== a.shape[i]))) {
      throw new GraphError(`${this.source}: weight "${name}" has shape [${a.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return a;
  }

  shape(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) throw new GraphError(`${this.source}: missing weight "${name}"`);
    return s;
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
    while ([...this.shapes.keys()].some((k) => k.startsWith(`${prefix}${n}.`))) n++;
    return n;
  }

  bytes(): number {
    let b = 0;
    for (const s of this.shapes.values()) b += 4 * s.reduce((x, y) => x * y, 1);
    return b;
  }
}
