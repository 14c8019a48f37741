import { GraphError, type DType, type Graph, type Node, type Tensor } from '../graph.ts';
import type { OpName } from './names.ts';

/** What an op's vector-Jacobian product receives: the node, the gradient of each output (null when no
 * gradient flows into it) and which inputs need a gradient. */
export interface VjpArgs {
  readonly node: Node;
  readonly g: Graph;
  readonly gy: readonly (Tensor | null)[];
  readonly needs: readonly boolean[];
}

/** The ONNX emission context handed to an op's emitter. */
export interface Emitter {
  name(t: Tensor): string;
  /** name of output i of node, or '' when the output is optional and unused */
  outName(node: Node, i: number): string;
  /** domain: '' (ai.onnx) unless given, e.g. 'com.microsoft' for ONNX Runtime's own ops */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs?: Readonly<Record<string, unknown>>, domain?: string): void;
  int64(values: readonly number[]): string;
  float(values: readonly number[], shape?: readonly number[]): string;
  double(values: readonly number[], shape?: readonly number[]): string;
  /** a fresh name for an intermediate of an op's own emission (float32 unless said) */
  temp(prefix: string, dtype?: DType): string;
}

export interface OpDef {
  /** Gradients for the inputs (null: no gradient); absent: the op has no gradient. */
  vjp?: (a: VjpArgs) => (Tensor | null)[];
  /** Custom ONNX emission; default: one ONNX node of the same type with the node's attributes. */
  emit?: (node: Node, e: Emitter) => void;
  /** Outputs after the first may be left unnamed ('') when unused. */
  optionalOutputs?: boolean;
}

const registry = new Map<OpName, OpDef>();

export function defineOp(op: OpName, def: OpDef): void {
  registry.set(op, def);
}

export function opDef(op: OpName): OpDef {
  const d = registry.get(op);
  if (!d) throw new GraphError(`unknown op ${op}`);
  return d;
}

/** The registered ops that have a gradient rule (a vjp), in registration order. */
export function opsWithGradient(): OpName[] {
  return [...registry].filter(([, d]) => d.vjp).map(([op]) => op);
}

/** Every registered op. */
export function registeredOps(): OpName[] {
  return [...registry.keys()];
}
