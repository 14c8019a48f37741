/**
 * A small typed graph of ONNX-like nodes with static shapes. Every tensor knows its shape and dtype at
 * build time, so shape errors surface where the model is written, not inside ONNX Runtime.
 */
import type { OpName } from './ops/names.ts';

export type DType = 'float32' | 'float64' | 'int64' | 'bool';
export type Shape = readonly number[];
export type AttrValue = number | string | readonly number[] | readonly string[] | boolean;
export type Attrs = Readonly<Record<string, AttrValue | undefined>>;
export type TensorData = Float32Array | Float64Array | BigInt64Array | Uint8Array;

export class GraphError extends Error {
  override name = 'GraphError';
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly producer: Node | null,
    readonly outputIndex: number,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return numel(this.shape);
  }

  toString(): string {
    return `${this.dtype}[${this.shape.join(',')}]`;
  }
}

export interface Node {
  readonly id: number;
  readonly op: OpName;
  readonly inputs: readonly Tensor[];
  readonly attrs: Attrs;
  readonly outputs: Tensor[];
  /** the block being built when the node was made, for readable node names and profiles */
  readonly scope: string;
}

export interface Initializer {
  readonly tensor: Tensor;
  readonly data: TensorData;
  name: string;
}

export interface GraphInput {
  readonly tensor: Tensor;
  readonly name: string;
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: GraphInput[] = [];
  readonly outputs: { tensor: Tensor; name: string }[] = [];
  readonly initializers = new Map<number, Initializer>();
  private readonly producers = new Map<number, Node>();
  private readonly scalarCache = new Map<string, Tensor>();
  private nextId = 0;
  private scopeStack: string[] = [];

  input(name: string, shape: Shape, dtype: DType = 'float32'): Tensor {
    if (this.inputs.some((i) => i.name === name)) throw new GraphError(`duplicate graph input name "${name}"`);
    checkShape(shape, `input "${name}"`);
    const t = new Tensor(this, this.nextId++, [...shape], dtype, null, 0);
    this.inputs.push({ tensor: t, name });
    return t;
  }

  /** A constant tensor (a weight). Its data is not copied: keep it alive and unchanged until serialised. */
  constant(data: TensorData, shape: Shape, name?: string): Tensor {
    checkShape(shape, `constant "${name ?? ''}"`);
    const dtype: DType = data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : data instanceof BigInt64Array ? 'int64' : 'bool';
    if (data.length !== numel(shape)) {
      throw new GraphError(`constant "${name ?? ''}": ${data.length} values do not fill shape ${fmt(shape)} (${numel(shape)})`);
    }
    const t = new Tensor(this, this.nextId++, [...shape], dtype, null, 0);
    this.initializers.set(t.id, { tensor: t, data, name: name ?? `const_${t.id}` });
    return t;
  }

  /** A cached scalar constant of shape [] (or the given broadcastable shape of ones). */
  scalar(value: number, dtype: 'float32' | 'float64' | 'int64' = 'float32'): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      const data = dtype === 'float32' ? Float32Array.of(value) : dtype === 'float64' ? Float64Array.of(value) : BigInt64Array.of(BigInt(value));
      t = this.constant(data, [], `scalar_${this.scalarCache.size}`);
      this.scalarCache.set(key, t);
    }
    return t;
  }

  output(tensor: Tensor, name: string): void {
    if (tensor.graph !== this) throw new GraphError(`output "${name}" belongs to another graph`);
    if (this.outputs.some((o) => o.name === name)) throw new GraphError(`duplicate graph output name "${name}"`);
    if (this.inputs.some((i) => i.name === name)) throw new GraphError(`graph output "${name}" has the name of a graph input`);
    this.outputs.push({ tensor, name });
  }

  isConstant(t: Tensor): boolean {
    return this.initializers.has(t.id);
  }

  constantData(t: Tensor): TensorData | undefined {
    return this.initializers.get(t.id)?.data;
  }

  producerOf(t: Tensor): Node | null {
    return this.producers.get(t.id) ?? null;
  }

  /** Runs fn with a name prefix for the nodes it creates (e.g. "decoder.up.3.block.0"). */
  scope<T>(name: string, fn: () => T): T {
    this.scopeStack.push(name);
    try {
      return fn();
    } finally {
      this.scopeStack.pop();
    }
  }

  /** Low level: appends a node whose output shapes were inferred by the caller. */
  addNode(op: OpName, inputs: readonly Tensor[], attrs: Attrs, outputs: readonly { shape: Shape; dtype: DType }[]): Tensor[] {
    for (const t of inputs) {
      if (t.graph !== this) throw new GraphError(`${op}: an input belongs to another graph`);
    }
    const node: Node = { id: this.nodes.length, op, inputs: [...inputs], attrs, outputs: [], scope: this.scopeStack.join('.') };
    for (let i = 0; i < outputs.length; i++) {
      const o = outputs[i]!;
      checkShape(o.shape, op);
      const t = new Tensor(this, this.nextId++, [...o.shape], o.dtype, node, i);
      node.outputs.push(t);
      this.producers.set(t.id, node);
    }
    this.nodes.push(node);
    return node.outputs;
  }
}

function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new GraphError(`${what}: invalid shape ${fmt(shape)}`);
  }
}
