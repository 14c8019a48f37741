import { numel, type Graph } from './graph.ts';
import { liveNodes } from './onnx.ts';

/** Multiply-add FLOPs (2 per MAC) of the matrix products and convolutions the graph's outputs need. */
export function countFlops(g: Graph): number {
  let flops = 0;
  for (const n of liveNodes(g)) {
    const y = n.outputs[0]!;
    if (n.op === 'MatMul' || n.op === 'Gemm' || n.op === 'FusedMatMul') {
      const a = n.inputs[0]!;
      const k = n.attrs.transA ? a.shape[a.rank - 2]! : a.shape[a.rank - 1]!;
      flops += 2 * numel(y.shape) * k;
    } else if (n.op === 'Conv') {
      const w = n.inputs[1]!;
      flops += 2 * numel(y.shape) * numel(w.shape.slice(1));
    } else if (n.op === 'ConvTranspose') {
      const x = n.inputs[0]!;
      const w = n.inputs[1]!;
      flops += 2 * numel(x.shape) * numel(w.shape.slice(1));
    }
  }
  return flops;
}
