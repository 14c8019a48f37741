/**
 * Which emitted ONNX nodes ONNX Runtime's CUDA execution provider has no kernel for, by the table in
 * cuda-kernels.json (regenerated from ORT's docs/OperatorKernels.md by scripts/cuda-kernels.ts).
 * Such a node would run on the CPU, with copies each way every run, or, as sessions are created with
 * CPU fallback disabled, stop the session from being created.
 */
import fs from 'node:fs';
import type { DType } from './graph.ts';
import type { EmittedNode } from './onnx.ts';

export interface KernelInput {
  name: string;
  /** a type-constraint letter (T, Tind, …) or, written `tensor(x)` in the docs, a fixed type `x` */
  type: string;
  fixed?: true;
}
export interface KernelRange {
  since: number;
  /** last opset this kernel covers; null: open-ended ("N+") */
  until: number | null;
  types: Record<string, string[]>;
}
export interface OpKernels {
  /** the alternative input lists the docs give ("or"), shared by all ranges of the op */
  signatures: KernelInput[][];
  ranges: KernelRange[];
}
export interface CudaKernelTable {
  source: { repo: string; commit: string; version: string; file: string; note?: string };
  domains: Record<string, Record<string, OpKernels>>;
}

const DOCS_TYPE: Record<DType, string> = { float32: 'float', float64: 'double', int64: 'int64', bool: 'bool' };

let cached: CudaKernelTable | undefined;
export function cudaKernelTable(): CudaKernelTable {
  cached ??= JSON.parse(fs.readFileSync(new URL('./cuda-kernels.json', import.meta.url), 'utf8')) as CudaKernelTable;
  return cached;
}

/** Why node has no CUDA kernel, or null when it has one for its op type, opset and input dtypes. */
export function cudaFallbackReason(node: EmittedNode, table: CudaKernelTable = cudaKernelTable()): string | null {
  const domain = node.domain || 'ai.onnx';
  const op = table.domains[domain]?.[node.opType];
  if (!op) return `no CUDA kernel for ${domain}.${node.opType}`;
  const range = op.ranges.find((r) => r.since <= node.opset && (r.until === null || node.opset <= r.until));
  if (!range) return `no CUDA kernel for ${node.opType} at opset ${node.opset} (has ${op.ranges.map((r) => `${r.since}..${r.until ?? ''}`).join(', ')})`;
  const unknown = node.inputs.find((i) => i.name && !i.dtype);
  if (unknown) return `input ${unknown.name} of ${node.opType} has no known dtype`;
  const fits = op.signatures.some((sig) =>
    node.inputs.every((input, i) => {
      if (!input.name) return true; // an absent optional input
      const want = sig[i] ?? (sig.length ? sig[sig.length - 1] : undefined); // variadic inputs repeat the last
      if (!want) return false;
      const allowed = want.fixed ? [want.type] : range.types[want.type];
      return !allowed || allowed.includes(DOCS_TYPE[input.dtype!]); // a constraint the docs leave unlisted is not checked
    }),
  );
  if (fits) return null;
  const types = node.inputs.map((i) => (i.name ? DOCS_TYPE[i.dtype!] : '-')).join(', ');
  return `no CUDA kernel for ${node.opType} (opset ${node.opset}) with inputs (${types}); it takes ${JSON.stringify(range.types)}`;
}

/** The nodes that would fall back to the CPU, with the reason. */
export function cudaFallbacks(nodes: readonly EmittedNode[], table?: CudaKernelTable): { node: string; opType: string; reason: string }[] {
  const out: { node: string; opType: string; reason: string }[] = [];
  for (const n of nodes) {
    const reason = cudaFallbackReason(n, table);
    if (reason) out.push({ node: n.name, opType: n.opType, reason });
  }
  return out;
}
