import { GraphError, type DType, type Graph, type Node, type Tensor, type TensorData } from './graph.ts';
import { opDef, type Emitter } from './ops/index.ts';
import { ProtoWriter } from './protobuf.ts';

export const OPSET = 18;
/** the versions of the other domains emitted: ONNX Runtime's own ops */
const OPSETS: Readonly<Record<string, number>> = { 'com.microsoft': 1 };
const IR_VERSION = 8;
const ELEM: Record<DType, number> = { float32: 1, float64: 11, int64: 7, bool: 9 };
/** ONNX attributes that are floats even when their value happens to be an integer. */
const FLOAT_ATTRS = new Set(['alpha', 'beta', 'epsilon', 'value', 'extrapolation_value', 'cubic_coeff_a', 'min', 'max']);

export interface SerializedModel {
  /** ModelProto bytes; weights above the threshold live in externalData, not in here */
  bytes: Uint8Array;
  /** views of the weight arrays (no copies), for InferenceSession.create(bytes, { externalData }) */
  externalData: { path: string; data: Uint8Array }[];
  inputs: { name: string; shape: number[]; dtype: DType }[];
  outputs: { name: string; shape: number[]; dtype: DType }[];
  nodeCount: number;
}

export interface SerializeOptions {
  /** initializers of at least this many bytes are passed as external data (default 1 KiB) */
  externalThreshold?: number;
  name?: string;
}

interface OnnxNode {
  opType: string;
  /** '' for ai.onnx */
  domain: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attrs: Readonly<Record<string, unknown>>;
  name: string;
}

function emitGraph(g: Graph) {
  if (!g.outputs.length) throw new GraphError('serialize: the graph has no outputs');
  const live = liveNodes(g);
  const consumed = new Set<number>();
  for (const n of live) for (const t of n.inputs) consumed.add(t.id);
  for (const o of g.outputs) consumed.add(o.tensor.id);

  const names = new Map<number, string>();
  const usedNames = new Set<string>();
  const unique = (base: string) => {
    let name = base;
    for (let k = 1; usedNames.has(name); k++) name = `${base}_${k}`;
    usedNames.add(name);
    return name;
  };
  const dtypes = new Map<string, DType>();
  for (const i of g.inputs) {
    const n = unique(i.name);
    names.set(i.tensor.id, n);
    dtypes.set(n, i.tensor.dtype);
  }
  for (const o of g.outputs) usedNames.add(o.name);

  const inits: { name: string; shape: readonly number[]; dtype: DType; data: TensorData }[] = [];
  const constCache = new Map<string, string>();
  const nodes: OnnxNode[] = [];
  let tempId = 0;

  const name = (t: Tensor): string => {
    let n = names.get(t.id);
    if (n) return n;
    const init = g.initializers.get(t.id);
    if (init) {
      n = unique(init.name);
      inits.push({ name: n, shape: t.shape, dtype: t.dtype, data: init.data });
    } else if (t.producer) {
      n = unique(`t${t.id}`);
    } else {
      throw new GraphError(`serialize: tensor ${t} has no producer and is neither an input nor a constant`);
    }
    names.set(t.id, n);
    dtypes.set(n, t.dtype);
    return n;
  };

  let current: Node | null = null;
  const e: Emitter = {
    name,
    outName: (node, i) => {
      const t = node.outputs[i]!;
      if (i > 0 && opDef(node.op).optionalOutputs && !consumed.has(t.id)) return '';
      return name(t);
    },
    node: (opType, inputs, outputs, attrs = {}, domain = '') => {
      const scope = current?.scope ? `${current.scope}/` : '';
      nodes.push({ opType, domain, inputs, outputs, attrs, name: `${scope}${opType}_${nodes.length}` });
    },
    int64: (values) => constant(`i:${values.join(',')}`, () => ({ data: BigInt64Array.from(values, (v) => BigInt(v)), shape: [values.length], dtype: 'int64' })),
    float: (values, shape) =>
      constant(`f:${shape ? shape.join('x') : 'v'}:${values.join(',')}`, () => ({ data: Float32Array.from(values), shape: shape ?? [values.length], dtype: 'float32' })),
    double: (values, shape) =>
      constant(`d:${shape ? shape.join('x') : 'v'}:${values.join(',')}`, () => ({ data: Float64Array.from(values), shape: shape ?? [values.length], dtype: 'float64' })),
    temp: (prefix, dtype = 'float32') => {
      const n = unique(`${prefix}_tmp${tempId++}`);
      dtypes.set(n, dtype);
      return n;
    },
  };
  function constant(key: string, make: () => { data: TensorData; shape: readonly number[]; dtype: DType }): string {
    let n = constCache.get(key);
    if (!n) {
      n = unique(`k${constCache.size}`);
      const c = make();
      inits.push({ name: n, ...c });
      dtypes.set(n, c.dtype);
      constCache.set(key, n);
    }
    return n;
  }

  for (const node of live) {
    current = node;
    const def = opDef(node.op);
    if (def.emit) def.emit(node, e);
    else {
      e.node(
        node.op,
        node.inputs.map(name),
        node.outputs.map((_, i) => e.outName(node, i)),
        node.attrs,
      );
    }
  }
  current = null;
  for (const o of g.outputs) e.node('Identity', [name(o.tensor)], [o.name]);
  return { nodes, inits, dtypes };
}

/** One emitted ONNX node as a kernel lookup sees it: '' inputs are absent optional ones. */
export interface EmittedNode {
  name: string;
  opType: string;
  /** domain of the op ('' is ai.onnx) and the opset in force for it */
  domain: string;
  opset: number;
  inputs: { name: string; dtype: DType | undefined }[];
}

/** The ONNX nodes serialize would write for g, with their input dtypes (for checking kernel coverage). */
export function emittedNodes(g: Graph): EmittedNode[] {
  return describeNodes(emitGraph(g));
}

const observers = new Set<(nodes: EmittedNode[], name: string) => void>();
/** Calls fn with the nodes of every graph serialised from now on (tests: every graph the engine builds); returns the unsubscribe. */
export function onSerialize(fn: (nodes: EmittedNode[], name: string) => void): () => void {
  observers.add(fn);
  return () => observers.delete(fn);
}

function describeNodes({ nodes, dtypes }: ReturnType<typeof emitGraph>): EmittedNode[] {
  return nodes.map((n) => ({
    name: n.name,
    opType: n.opType,
    domain: n.domain,
    opset: n.domain ? OPSETS[n.domain]! : OPSET,
    inputs: n.inputs.map((i) => ({ name: i, dtype: i ? dtypes.get(i) : undefined })),
  }));
}

/** Serialises the part of the graph its outputs need (dead nodes pruned) to an ONNX ModelProto. */
export function serialize(g: Graph, opts: SerializeOptions = {}): SerializedModel {
  const threshold = opts.externalThreshold ?? 1024;
  const emitted = emitGraph(g);
  const { nodes, inits } = emitted;
  if (observers.size) {
    const described = describeNodes(emitted);
    for (const fn of observers) fn(described, opts.name ?? 'reverie');
  }
  const externalData: { path: string; data: Uint8Array }[] = [];
  const paths = new Set<string>();
  const w = new ProtoWriter(1 << 16);
  w.varint(1, IR_VERSION);
  w.string(2, 'reverie');
  w.message(8, (m) => m.string(1, '').varint(2, OPSET));
  for (const domain of new Set(nodes.map((n) => n.domain).filter(Boolean))) w.message(8, (m) => m.string(1, domain).varint(2, OPSETS[domain]!));
  w.message(7, (gr) => {
    for (const n of nodes) gr.message(1, (m) => writeNode(m, n));
    gr.string(2, opts.name ?? 'reverie');
    for (const init of inits) {
      gr.message(5, (m) => {
        for (const d of init.shape) m.varint(1, d);
        m.varint(2, ELEM[init.dtype]);
        m.string(8, init.name);
        const bytes = new Uint8Array(init.data.buffer, init.data.byteOffset, init.data.byteLength);
        if (init.dtype === 'float32' && bytes.byteLength >= threshold) {
          const base = init.name.replace(/[^A-Za-z0-9_.-]/g, '_');
          let path = `${base}.bin`;
          for (let k = 1; paths.has(path); k++) path = `${base}_${k}.bin`;
          paths.add(path);
          externalData.push({ path, data: bytes });
          m.message(13, (kv) => kv.string(1, 'location').string(2, path));
          m.message(13, (kv) => kv.string(1, 'offset').string(2, '0'));
          m.message(13, (kv) => kv.string(1, 'length').string(2, String(bytes.byteLength)));
          m.varint(14, 1);
        } else {
          m.bytes(9, bytes);
        }
      });
    }
    for (const i of g.inputs) gr.message(11, (m) => writeValueInfo(m, i.name, i.tensor));
    for (const o of g.outputs) gr.message(12, (m) => writeValueInfo(m, o.name, o.tensor));
  });
  return {
    bytes: w.finish(),
    externalData,
    inputs: g.inputs.map((i) => ({ name: i.name, shape: [...i.tensor.shape], dtype: i.tensor.dtype })),
    outputs: g.outputs.map((o) => ({ name: o.name, shape: [...o.tensor.shape], dtype: o.tensor.dtype })),
    nodeCount: nodes.length,
  };
}

/** Nodes the outputs depend on, in creation (topological) order. */
export function liveNodes(g: Graph): Node[] {
  const need = new Set(g.outputs.map((o) => o.tensor.id));
  const keep: boolean[] = new Array(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.some((o) => need.has(o.id))) {
      keep[i] = true;
      for (const t of n.inputs) need.add(t.id);
    }
  }
  return g.nodes.filter((_, i) => keep[i]);
}

function writeValueInfo(m: ProtoWriter, name: string, t: Tensor): void {
  m.string(1, name);
  m.message(2, (ty) =>
    ty.message(1, (tt) => {
      tt.varint(1, ELEM[t.dtype]);
      tt.message(2, (sh) => {
        for (const d of t.shape) sh.message(1, (dim) => dim.varint(1, d));
      });
    }),
  );
}

function writeNode(m: ProtoWriter, n: OnnxNode): void {
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name);
  m.string(4, n.opType);
  if (n.domain) m.string(7, n.domain);
  for (const [key, v] of Object.entries(n.attrs)) {
    if (v === undefined) continue;
    m.message(5, (a) => writeAttr(a, key, v));
  }
}

function writeAttr(a: ProtoWriter, key: string, v: unknown): void {
  a.string(1, key);
  if (typeof v === 'boolean') a.varint(3, v ? 1 : 0).varint(20, 2);
  else if (typeof v === 'number') {
    if (FLOAT_ATTRS.has(key) || !Number.isInteger(v)) a.float(2, v).varint(20, 1);
    else a.varint(3, v).varint(20, 2);
  } else if (typeof v === 'string') a.string(4, v).varint(20, 3);
  else if (Array.isArray(v) && v.every((x) => typeof x === 'number')) {
    if (FLOAT_ATTRS.has(key)) {
      for (const x of v) a.float(7, x);
      a.varint(20, 6);
    } else {
      for (const x of v) a.varint(8, x);
      a.varint(20, 7);
    }
  } else throw new GraphError(`serialize: unsupported attribute ${key}=${JSON.stringify(v)}`);
}
