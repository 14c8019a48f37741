import { GraphError, type Tensor } from '../graph.ts';
import { reduceSum } from './broadcast.ts';
import { matmul } from './linalg.ts';
import { reshape, transpose } from './movement.ts';
import { defineOp } from './registry.ts';

/** Nearest-neighbour upsampling by an integer factor (torch interpolate mode='nearest'). */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  if (x.rank !== 4 || !Number.isInteger(factor) || factor < 1) throw new GraphError(`Resize: nearest needs NCHW and an integer factor, got ${x} ×${factor}`);
  const shape = [x.shape[0]!, x.shape[1]!, x.shape[2]! * factor, x.shape[3]! * factor];
  return x.graph.addNode('Resize', [x], { mode: 'nearest', factor }, [{ shape, dtype: x.dtype }])[0]!;
}

/** Bilinear resize of NCHW to (outH, outW); alignCorners as in torch. */
export function resizeLinear(x: Tensor, outH: number, outW: number, alignCorners = false): Tensor {
  if (x.rank !== 4) throw new GraphError(`Resize: linear needs NCHW, got ${x}`);
  const shape = [x.shape[0]!, x.shape[1]!, outH, outW];
  return x.graph.addNode('Resize', [x], { mode: 'linear', alignCorners }, [{ shape, dtype: x.dtype }])[0]!;
}

/** Row i of the [out, in] matrix that 1-D linear resampling applies (ONNX/torch linear semantics). */
export function linearResizeMatrix(inN: number, outN: number, alignCorners: boolean): Float32Array {
  const m = new Float32Array(outN * inN);
  for (let i = 0; i < outN; i++) {
    let src = alignCorners ? (outN === 1 ? 0 : (i * (inN - 1)) / (outN - 1)) : ((i + 0.5) * inN) / outN - 0.5;
    src = Math.min(Math.max(src, 0), inN - 1);
    const i0 = Math.floor(src);
    const i1 = Math.min(i0 + 1, inN - 1);
    const w = src - i0;
    m[i * inN + i0]! += 1 - w;
    m[i * inN + i1]! += w;
  }
  return m;
}

defineOp('Resize', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (node.attrs.mode === 'nearest') {
      const f = node.attrs.factor as number;
      return [reshape(reduceSum(reshape(gy[0]!, [n, c, h, f, w, f]), [3, 5], false), x.shape)];
    }
    const [oh, ow] = node.outputs[0]!.shape.slice(2) as [number, number];
    const ac = node.attrs.alignCorners as boolean;
    const ryT = transpose(x.graph.constant(linearResizeMatrix(h, oh, ac), [oh, h]), [1, 0]);
    const rx = x.graph.constant(linearResizeMatrix(w, ow, ac), [ow, w]);
    return [matmul(ryT, matmul(gy[0]!, rx))];
  },
  emit: (n, e) => {
    const x = n.inputs[0]!;
    const out = n.outputs[0]!;
    if (n.attrs.mode === 'nearest') {
      const f = n.attrs.factor as number;
      e.node('Resize', [e.name(x), '', e.float([1, 1, f, f])], [e.outName(n, 0)], {
        mode: 'nearest',
        coordinate_transformation_mode: 'asymmetric',
        nearest_mode: 'floor',
      });
    } else {
      e.node('Resize', [e.name(x), '', '', e.int64([...out.shape])], [e.outName(n, 0)], {
        mode: 'linear',
        coordinate_transformation_mode: n.attrs.alignCorners ? 'align_corners' : 'half_pixel',
      });
    }
  },
});
