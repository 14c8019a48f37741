/**
 * Conv, ConvTranspose, AveragePool, MaxPool and Resize: forward vs naive JS loops (1e-4 abs + 1e-4
 * rel), input gradients vs central finite differences (h = 1e-2, rtol = 1e-2; MaxPool inputs are
 * spaced 0.05 apart so no perturbation can reorder a window). Weights are constants, as in the models.
 */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { evaluate, gradcheck, mulberry32, normal, spaced } from './gradcheck.ts';
import * as ref from './ref.ts';

type Pads = [number, number, number, number];
interface ConvCase {
  label: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  bias?: boolean;
  strides?: [number, number];
  pads?: Pads;
  dilations?: [number, number];
  group?: number;
}

const convCases: ConvCase[] = [
  { label: '3×3, pad 1, bias, batch 2', x: [2, 3, 5, 5], w: [4, 3, 3, 3], pads: [1, 1, 1, 1], bias: true },
  { label: 'stride 2, asymmetric padding [1,0,2,1]', x: [1, 2, 7, 6], w: [3, 2, 3, 3], strides: [2, 2], pads: [1, 0, 2, 1] },
  { label: 'stride 2 on an even input (backward needs output padding)', x: [1, 2, 6, 6], w: [3, 2, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  { label: 'dilation 2', x: [1, 2, 7, 7], w: [2, 2, 3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] },
  { label: 'groups 2, stride 2', x: [1, 4, 6, 5], w: [6, 2, 3, 3], group: 2, strides: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { label: 'depthwise (groups = channels), bias', x: [1, 3, 5, 5], w: [3, 1, 3, 3], group: 3, pads: [1, 1, 1, 1], bias: true },
  { label: 'depthwise with channel multiplier 2', x: [1, 3, 5, 4], w: [6, 1, 3, 3], group: 3, pads: [0, 1, 0, 1] },
  { label: '1×1 stride 2 (shortcut-style), even input', x: [1, 4, 6, 6], w: [2, 4, 1, 1], strides: [2, 2] },
  {
    label: 'rectangular 2×3 kernel, strides [2,1], dilation [1,2], groups 2, asymmetric pads',
    x: [2, 4, 7, 8],
    w: [4, 2, 2, 3],
    strides: [2, 1],
    dilations: [1, 2],
    group: 2,
    pads: [0, 2, 1, 1],
    bias: true,
  },
];

describe('Conv', () => {
  for (const c of convCases) {
    it(c.label, async () => {
      const rng = mulberry32(11);
      const w = normal(rng, ref.numel(c.w), 0.5);
      const b = c.bias ? normal(rng, c.w[0]) : null;
      const opts = { strides: c.strides, pads: c.pads, dilations: c.dilations, group: c.group };
      await gradcheck({
        inputs: [{ shape: c.x }],
        build: (g, [x]) => G.conv2d(x!, g.constant(w, c.w), b ? g.constant(b, [c.w[0]]) : undefined, opts),
        reference: ([x]) => ref.conv2d(x!, c.x, w, c.w, b, { stride: c.strides, pads: c.pads, dilation: c.dilations, group: c.group }).y,
        directions: 4,
      });
    });
  }
  it('gradient for a bias that is an input (reduce over N, H, W)', async () => {
    const w = normal(mulberry32(12), 3 * 2 * 9, 0.5);
    await gradcheck({
      inputs: [{ shape: [2, 2, 4, 4] }, { shape: [3] }],
      build: (g, [x, b]) => G.conv2d(x!, g.constant(w, [3, 2, 3, 3]), b, { strides: [2, 2], pads: [1, 1, 0, 0] }),
      reference: ([x, b]) => ref.conv2d(x!, [2, 2, 4, 4], w, [3, 2, 3, 3], b!, { stride: [2, 2], pads: [1, 1, 0, 0] }).y,
      directions: 4,
    });
  });
});

interface ConvTCase extends ConvCase {
  outputPadding?: [number, number];
}
const convTCases: ConvTCase[] = [
  { label: 'stride 2, padding 1, output padding 1', x: [1, 3, 4, 4], w: [3, 2, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] },
  { label: 'kernel 4, stride 2, pad 1 (×2 upsampling), bias', x: [2, 2, 3, 3], w: [2, 3, 4, 4], strides: [2, 2], pads: [1, 1, 1, 1], bias: true },
  { label: 'groups 2, asymmetric pads, output padding [1,0]', x: [1, 4, 3, 4], w: [4, 3, 3, 3], group: 2, strides: [2, 2], pads: [1, 0, 0, 1], outputPadding: [1, 0], bias: true },
  { label: 'dilation 2, stride 1', x: [1, 2, 4, 4], w: [2, 2, 3, 3], dilations: [2, 2], pads: [1, 1, 1, 1] },
  { label: 'stride 2, dilation 3, output padding [1,0], asymmetric pads', x: [1, 2, 3, 3], w: [2, 1, 2, 2], strides: [2, 2], dilations: [3, 3], pads: [1, 0, 0, 1], outputPadding: [1, 0] },
  { label: 'depthwise groups 3, stride 3, output padding 2', x: [1, 3, 3, 2], w: [3, 1, 2, 2], group: 3, strides: [3, 3], outputPadding: [2, 2] },
];

describe('ConvTranspose', () => {
  for (const c of convTCases) {
    it(c.label, async () => {
      const rng = mulberry32(13);
      const w = normal(rng, ref.numel(c.w), 0.5);
      const m = c.w[1] * (c.group ?? 1);
      const b = c.bias ? normal(rng, m) : null;
      const opts = { strides: c.strides, pads: c.pads, dilations: c.dilations, group: c.group, outputPadding: c.outputPadding };
      await gradcheck({
        inputs: [{ shape: c.x }],
        build: (g, [x]) => G.convTranspose2d(x!, g.constant(w, c.w), b ? g.constant(b, [m]) : undefined, opts),
        reference: ([x]) =>
          ref.convTranspose2d(x!, c.x, w, c.w, b, { stride: c.strides, pads: c.pads, dilation: c.dilations, group: c.group, outputPadding: c.outputPadding }).y,
        directions: 4,
      });
    });
  }
});

describe('ConvTranspose output padding limit', () => {
  it('output padding ≥ stride is a build-time error (ONNX Runtime rejects it even when dilation > stride)', () => {
    const g = new G.Graph();
    const x = g.input('x', [1, 2, 4, 4]);
    const w = g.constant(new Float32Array(36), [2, 2, 3, 3]);
    expect(() => G.convTranspose2d(x, w, undefined, { dilations: [2, 2], outputPadding: [1, 1] })).toThrow(
      /ConvTranspose: output padding 1 must be in \[0, stride 1\)/,
    );
  });
});

describe('AveragePool', () => {
  const cases: { label: string; x: number[]; kernel: [number, number]; strides?: [number, number]; pads?: Pads; countIncludePad?: boolean }[] = [
    { label: '2×2 stride 2', x: [1, 2, 4, 6], kernel: [2, 2] },
    { label: '3×3 stride 2 pad 1, countIncludePad true', x: [1, 2, 5, 6], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: true },
    { label: '3×3 stride 2 pad 1, countIncludePad false', x: [1, 2, 5, 6], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], countIncludePad: false },
    { label: '3×2 stride [1,2], asymmetric pads, countIncludePad false', x: [2, 1, 5, 5], kernel: [3, 2], strides: [1, 2], pads: [0, 1, 2, 0], countIncludePad: false },
    { label: '3×2 stride [1,2], asymmetric pads, countIncludePad true', x: [2, 1, 5, 5], kernel: [3, 2], strides: [1, 2], pads: [0, 1, 2, 0], countIncludePad: true },
  ];
  for (const c of cases) {
    it(c.label, async () => {
      await gradcheck({
        inputs: [{ shape: c.x }],
        build: (_, [x]) => G.avgPool2d(x!, { kernel: c.kernel, strides: c.strides, pads: c.pads, countIncludePad: c.countIncludePad }),
        reference: ([x]) => ref.pool2d(x!, c.x, 'avg', c.kernel, c.strides, c.pads, c.countIncludePad ?? true).y,
      });
    });
  }
});

describe('MaxPool', () => {
  const cases: { label: string; x: number[]; kernel: [number, number]; strides?: [number, number]; pads?: Pads }[] = [
    { label: '2×2 stride 2', x: [2, 2, 4, 4], kernel: [2, 2] },
    { label: '3×3 stride 1, overlapping windows (gradients add)', x: [1, 2, 4, 5], kernel: [3, 3], strides: [1, 1] },
    { label: '3×3 stride 2 pad 1 (padding is -inf)', x: [1, 2, 5, 6], kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] },
  ];
  for (const c of cases) {
    it(c.label, async () => {
      await gradcheck({
        inputs: [{ shape: c.x, gen: spaced(0.05) }],
        build: (_, [x]) => G.maxPool2d(x!, { kernel: c.kernel, strides: c.strides, pads: c.pads }),
        reference: ([x]) => ref.pool2d(x!, c.x, 'max', c.kernel, c.strides, c.pads).y,
        full: true,
      });
    });
  }
  it('ties: the gradient of each window lands on exactly one of its tied elements', async () => {
    // 2×2 windows over a 4×6 image made of constant 2×2 blocks: every window is a four-way tie.
    const [h, w] = [4, 6];
    const x = Float32Array.from({ length: 2 * h * w }, (_, i) => {
      const [c, r, q] = [Math.floor(i / (h * w)), Math.floor(i / w) % h, i % w];
      return c + Math.floor(r / 2) * 0.25 + Math.floor(q / 2) * 0.5;
    });
    const seed = Float32Array.from({ length: 2 * 2 * 3 }, (_, i) => 1 + i);
    const { y, grads } = await evaluate([{ shape: [1, 2, h, w] }], (_, [t]) => G.maxPool2d(t!, { kernel: [2, 2] }), [x], seed);
    const gx = grads[0]!;
    expect(Array.from(y)).toEqual(Array.from(ref.pool2d(x, [1, 2, h, w], 'max', [2, 2]).y));
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) {
          const win = [0, 1, w, w + 1].map((d) => gx[c * h * w + 2 * i * w + 2 * j + d]!);
          expect(win.filter((v) => v !== 0)).toEqual([seed[(c * 2 + i) * 3 + j]]);
        }
      }
    }
    expect(gx.reduce((s, v) => s + v, 0)).toBe(seed.reduce((s, v) => s + v, 0));
  });
  it('ties in overlapping windows (constant image, 3×3 stride 1): one element per window, total preserved', async () => {
    const x = new Float32Array(1 * 1 * 4 * 4).fill(0.5);
    const { grads } = await evaluate([{ shape: [1, 1, 4, 4] }], (_, [t]) => G.maxPool2d(t!, { kernel: [3, 3], strides: [1, 1] }), [x]);
    const gx = grads[0]!;
    expect(gx.reduce((s, v) => s + v, 0)).toBe(4); // 2×2 windows, seed 1 each
    expect(gx.every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
  });
});

describe('Resize', () => {
  it('upsampleNearest ×2', async () => {
    await gradcheck({
      inputs: [{ shape: [2, 2, 3, 4] }],
      build: (_, [x]) => G.upsampleNearest(x!, 2),
      reference: ([x]) => ref.upsampleNearest(x!, [2, 2, 3, 4], 2),
    });
  });
  it('upsampleNearest ×3', async () => {
    await gradcheck({
      inputs: [{ shape: [1, 2, 2, 3] }],
      build: (_, [x]) => G.upsampleNearest(x!, 3),
      reference: ([x]) => ref.upsampleNearest(x!, [1, 2, 2, 3], 3),
    });
  });
  for (const alignCorners of [false, true]) {
    for (const [label, xs, oh, ow] of [
      ['upsample 3×4 → 7×9', [1, 2, 3, 4], 7, 9],
      ['downsample 8×7 → 3×5', [2, 1, 8, 7], 3, 5],
      ['mixed 4×6 → 9×2', [1, 1, 4, 6], 9, 2],
    ] as const) {
      it(`resizeLinear ${label}, alignCorners ${alignCorners}`, async () => {
        await gradcheck({
          inputs: [{ shape: xs }],
          build: (_, [x]) => G.resizeLinear(x!, oh, ow, alignCorners),
          reference: ([x]) => ref.resizeLinear(x!, xs, oh, ow, alignCorners),
          directions: 4,
        });
      });
    }
  }
});
