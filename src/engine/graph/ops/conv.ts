import { GraphError, type Tensor } from '../graph.ts';
import { reduceSum, zeros } from './broadcast.ts';
import { concat, split } from './concat.ts';
import { div } from './elementwise.ts';
import { scatterElementsAdd, slice } from './indexing.ts';
import { reshape, transpose } from './movement.ts';
import { defineOp } from './registry.ts';

export interface ConvOptions {
  strides?: readonly [number, number];
  /** [top, left, bottom, right], as ONNX */
  pads?: readonly [number, number, number, number];
  dilations?: readonly [number, number];
  group?: number;
}

interface Conv2d {
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

function fill(o: ConvOptions): Conv2d {
  return {
    strides: [...(o.strides ?? [1, 1])] as [number, number],
    pads: [...(o.pads ?? [0, 0, 0, 0])] as [number, number, number, number],
    dilations: [...(o.dilations ?? [1, 1])] as [number, number],
    group: o.group ?? 1,
  };
}

function convOut(n: number, k: number, s: number, p0: number, p1: number, d: number): number {
  return Math.floor((n + p0 + p1 - d * (k - 1) - 1) / s) + 1;
}

/** 2-D convolution, x [N,C,H,W], w [M, C/group, kh, kw], b [M]. */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor, opts: ConvOptions = {}): Tensor {
  const o = fill(opts);
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [m, cg, kh, kw] = w.shape as [number, number, number, number];
  if (x.rank !== 4 || w.rank !== 4) throw new GraphError(`Conv: expects NCHW input and 4-D weight, got ${x} and ${w}`);
  if (c !== cg * o.group || m % o.group) {
    throw new GraphError(`Conv: input ${x} has ${c} channels but weight ${w} with group ${o.group} expects ${cg * o.group}`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== m)) throw new GraphError(`Conv: bias ${b} should be [${m}]`);
  const oh = convOut(h, kh, o.strides[0], o.pads[0], o.pads[2], o.dilations[0]);
  const ow = convOut(wd, kw, o.strides[1], o.pads[1], o.pads[3], o.dilations[1]);
  if (oh < 1 || ow < 1) throw new GraphError(`Conv: kernel ${kh}×${kw} does not fit input ${x} with these pads`);
  const attrs = { kernel_shape: [kh, kw], strides: o.strides, pads: o.pads, dilations: o.dilations, group: o.group };
  return x.graph.addNode('Conv', b ? [x, w, b] : [x, w], attrs, [{ shape: [n, m, oh, ow], dtype: 'float32' }])[0]!;
}
defineOp('Conv', {
  vjp: ({ node, gy, needs }) => {
    const [x, w, b] = node.inputs as [Tensor, Tensor, Tensor | undefined];
    if (needs[1]) throw new GraphError('Conv: no gradient for the weight (weights are constants)');
    const a = node.attrs as unknown as Conv2d & { kernel_shape: [number, number] };
    const y = node.outputs[0]!;
    const outputPadding = [0, 1].map(
      (i) => x.shape[2 + i]! - (a.strides[i]! * (y.shape[2 + i]! - 1) + (a.kernel_shape[i]! - 1) * a.dilations[i]! + 1 - a.pads[i]! - a.pads[i + 2]!),
    ) as [number, number];
    let gx: Tensor | null = null;
    if (needs[0]) {
      // Stride 1: the adjoint is itself a convolution with the kernel flipped and its in/out channels
      // swapped, which runs on ORT's fast Conv kernels; ORT's CPU ConvTranspose is several times slower.
      gx = a.strides.every((s) => s === 1)
        ? conv2d(gy[0]!, flippedKernel(w, a.group), undefined, {
            pads: [0, 1, 2, 3].map((i) => a.dilations[i % 2]! * (a.kernel_shape[i % 2]! - 1) - a.pads[i]!) as [number, number, number, number],
            dilations: a.dilations,
            group: a.group,
          })
        : convTranspose2d(gy[0]!, w, undefined, { ...a, outputPadding });
    }
    const gb = b && needs[2] ? reduceSum(gy[0]!, [0, 2, 3], false) : null;
    return b ? [gx, null, gb] : [gx, null];
  },
});

const flipped = new WeakMap<Tensor, Tensor>();

/** W [M, C/g, kh, kw] → W' [C, M/g, kh, kw] with W'[c, m, i, j] = W[m, c, kh−1−i, kw−1−j] per group. */
function flippedKernel(w: Tensor, group: number): Tensor {
  const cached = flipped.get(w);
  if (cached) return cached;
  const [m, cg, kh, kw] = w.shape as [number, number, number, number];
  const mg = m / group;
  const data = w.graph.constantData(w);
  let out: Tensor;
  if (data instanceof Float32Array) {
    const t = new Float32Array(data.length);
    const k = kh * kw;
    for (let g = 0; g < group; g++) {
      for (let mo = 0; mo < mg; mo++) {
        for (let c = 0; c < cg; c++) {
          const src = ((g * mg + mo) * cg + c) * k;
          const dst = ((g * cg + c) * mg + mo) * k;
          for (let i = 0; i < k; i++) t[dst + i] = data[src + k - 1 - i]!;
        }
      }
    }
    out = w.graph.constant(t, [group * cg, mg, kh, kw], `${w.graph.initializers.get(w.id)?.name ?? 'w'}_flipped`);
  } else {
    const perGroup = group === 1 ? [w] : split(w, 0, new Array<number>(group).fill(mg));
    const parts = perGroup.map((p) => slice(transpose(p, [1, 0, 2, 3]), [-1, -1], [-kh - 1, -kw - 1], [2, 3], [-1, -1]));
    out = concat(parts, 0);
  }
  flipped.set(w, out);
  return out;
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: readonly [number, number];
}

/** Transposed convolution, w [C, M/group, kh, kw] (ONNX/torch layout). */
export function convTranspose2d(x: Tensor, w: Tensor, b?: Tensor, opts: ConvTransposeOptions = {}): Tensor {
  const o = fill(opts);
  const op = opts.outputPadding ?? [0, 0];
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [cw, mg, kh, kw] = w.shape as [number, number, number, number];
  if (c !== cw) throw new GraphError(`ConvTranspose: input ${x} has ${c} channels, weight ${w} expects ${cw}`);
  for (let i = 0; i < 2; i++) {
    // torch allows up to max(stride, dilation) − 1, but ONNX Runtime rejects output padding ≥ stride at run time.
    if (op[i]! < 0 || op[i]! >= o.strides[i]!) {
      throw new GraphError(`ConvTranspose: output padding ${op[i]} must be in [0, stride ${o.strides[i]}) (ONNX Runtime's limit)`);
    }
  }
  const m = mg * o.group;
  const size = (i: number, k: number, len: number) => o.strides[i]! * (len - 1) + op[i]! + (k - 1) * o.dilations[i]! + 1 - o.pads[i]! - o.pads[i + 2]!;
  const shape = [n, m, size(0, kh, h), size(1, kw, wd)];
  const attrs = { kernel_shape: [kh, kw], strides: o.strides, pads: o.pads, dilations: o.dilations, group: o.group, output_padding: [...op] };
  return x.graph.addNode('ConvTranspose', b ? [x, w, b] : [x, w], attrs, [{ shape, dtype: 'float32' }])[0]!;
}
defineOp('ConvTranspose', {
  vjp: ({ node, gy, needs }) => {
    const [, w, b] = node.inputs as [Tensor, Tensor, Tensor | undefined];
    if (needs[1]) throw new GraphError('ConvTranspose: no gradient for the weight (weights are constants)');
    const a = node.attrs as unknown as Conv2d;
    const gx = needs[0] ? conv2d(gy[0]!, w, undefined, a) : null;
    const gb = b && needs[2] ? reduceSum(gy[0]!, [0, 2, 3], false) : null;
    return b ? [gx, null, gb] : [gx, null];
  },
});

export interface PoolOptions {
  kernel: readonly [number, number];
  strides?: readonly [number, number];
  pads?: readonly [number, number, number, number];
  /** AveragePool only: count padded zeros in the divisor (torch default true) */
  countIncludePad?: boolean;
}

function poolShape(op: string, x: Tensor, p: PoolOptions): { shape: number[]; strides: [number, number]; pads: [number, number, number, number] } {
  if (x.rank !== 4) throw new GraphError(`${op}: expects NCHW, got ${x}`);
  const strides = [...(p.strides ?? p.kernel)] as [number, number];
  const pads = [...(p.pads ?? [0, 0, 0, 0])] as [number, number, number, number];
  const oh = convOut(x.shape[2]!, p.kernel[0], strides[0], pads[0], pads[2], 1);
  const ow = convOut(x.shape[3]!, p.kernel[1], strides[1], pads[1], pads[3], 1);
  if (oh < 1 || ow < 1) throw new GraphError(`${op}: kernel ${p.kernel.join('×')} does not fit ${x}`);
  return { shape: [x.shape[0]!, x.shape[1]!, oh, ow], strides, pads };
}

export function maxPool2d(x: Tensor, p: PoolOptions): Tensor {
  const { shape, strides, pads } = poolShape('MaxPool', x, p);
  const attrs = { kernel_shape: [...p.kernel], strides, pads };
  return x.graph.addNode('MaxPool', [x], attrs, [
    { shape, dtype: 'float32' },
    { shape, dtype: 'int64' },
  ])[0]!;
}
defineOp('MaxPool', {
  optionalOutputs: true,
  // Indices address the flattened NCHW input; ties go to the first maximum in scan order.
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const flat = [x.size];
    const idx = reshape(node.outputs[1]!, [node.outputs[1]!.size]);
    const g = scatterElementsAdd(zeros(x.graph, flat), idx, reshape(gy[0]!, [idx.size]), 0);
    return [reshape(g, x.shape)];
  },
});

export function avgPool2d(x: Tensor, p: PoolOptions): Tensor {
  const { shape, strides, pads } = poolShape('AveragePool', x, p);
  const attrs = { kernel_shape: [...p.kernel], strides, pads, count_include_pad: p.countIncludePad === false ? 0 : 1 };
  return x.graph.addNode('AveragePool', [x], attrs, [{ shape, dtype: 'float32' }])[0]!;
}
defineOp('AveragePool', {
  vjp: ({ node, gy }) => {
    const x = node.inputs[0]!;
    const a = node.attrs as { kernel_shape: [number, number]; strides: [number, number]; pads: [number, number, number, number]; count_include_pad: number };
    const [, c, h, w] = x.shape as [number, number, number, number];
    const [oh, ow] = node.outputs[0]!.shape.slice(2) as [number, number];
    const [kh, kw] = a.kernel_shape;
    // Each output spreads g/count over its window: a depthwise transposed convolution with a ones kernel.
    const divisor = new Float32Array(oh * ow);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const span = (o: number, s: number, p: number, k: number, n: number) => Math.min(o * s - p + k, n) - Math.max(o * s - p, 0);
        divisor[i * ow + j] = a.count_include_pad ? kh * kw : span(i, a.strides[0], a.pads[0], kh, h) * span(j, a.strides[1], a.pads[1], kw, w);
      }
    }
    const g = div(gy[0]!, x.graph.constant(divisor, [oh, ow]));
    const ones = x.graph.constant(new Float32Array(c * kh * kw).fill(1), [c, 1, kh, kw]);
    const outputPadding = [0, 1].map((i) => x.shape[2 + i]! - (a.strides[i]! * (node.outputs[0]!.shape[2 + i]! - 1) + a.kernel_shape[i]! - a.pads[i]! - a.pads[i + 2]!)) as [
      number,
      number,
    ];
    return [convTranspose2d(g, ones, undefined, { strides: a.strides, pads: a.pads, group: c, outputPadding })];
  },
});
