import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Graph, Session, grad, mul, reduceSum, resizeLinear, serialize, type HostArray } from '../../../src/engine/graph/index.ts';
import { CLIP_MEAN, CLIP_STD } from '../../../src/engine/models/clip.ts';
import {
  areaResizeMatrix,
  centerCropOffsets,
  fullFrameCutout,
  loadClipImage,
  normalizeClipPixels,
  resizedSize,
  roundHalfEven,
} from '../../../src/engine/models/clip-preprocess.ts';

/** Deterministic pixels: HWC uint8 with distinct values per channel and position. */
function pattern(w: number, h: number, channels: number): Buffer {
  const b = Buffer.alloc(w * h * channels);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) b[(y * w + x) * channels + c] = (x * 7 + y * 13 + c * 85) % 256;
  return b;
}

const png = (w: number, h: number, channels: 1 | 3 | 4, data = pattern(w, h, channels)) =>
  sharp(data, { raw: { width: w, height: h, channels } }).png().toBuffer();

async function run(g: Graph, feeds: Record<string, HostArray>) {
  const s = await Session.create(serialize(g));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

describe('torchvision Resize / CenterCrop geometry', () => {
  it('resizes the shorter side, truncating the longer one', () => {
    expect(resizedSize(640, 480, 224)).toEqual({ width: 298, height: 224 }); // int(224·640/480 = 298.67)
    expect(resizedSize(480, 640, 224)).toEqual({ width: 224, height: 298 });
    expect(resizedSize(224, 500, 224)).toEqual({ width: 224, height: 500 }); // short side already right: untouched
    expect(resizedSize(100, 50, 64)).toEqual({ width: 128, height: 64 });
    expect(resizedSize(30, 30, 64)).toEqual({ width: 64, height: 64 });
  });

  it('crops the centre with Python rounding (halves to even)', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
    expect(centerCropOffsets(298, 224, 224)).toEqual({ left: 37, top: 0 });
    expect(centerCropOffsets(225, 227, 224)).toEqual({ left: 0, top: 2 }); // round(0.5)=0, round(1.5)=2
    expect(centerCropOffsets(229, 224, 224)).toEqual({ left: 2, top: 0 }); // round(2.5)=2
  });
});

describe('loadClipImage', () => {
  it('without resizing, is the exact centre crop as RGB planes in [0,1]', async () => {
    const raw = pattern(81, 64, 3);
    const img = await loadClipImage(await png(81, 64, 3, raw), 64);
    expect(img.shape).toEqual([1, 3, 64, 64]);
    expect(img.source).toEqual({ width: 81, height: 64 });
    const left = 8; // round(17/2 = 8.5) = 8
    for (const [y, x, c] of [[0, 0, 0], [5, 9, 1], [63, 63, 2], [31, 17, 0]] as const) {
      expect(img.data[c * 64 * 64 + y * 64 + x]).toBe(Math.fround(raw[(y * 81 + x + left) * 3 + c]! / 255));
    }
  });

  it('resizes bicubically: a flat colour stays flat, a horizontal ramp stays a ramp', async () => {
    const flat = Buffer.alloc(300 * 200 * 3);
    for (let i = 0; i < flat.length; i += 3) flat.set([200, 100, 30], i);
    const img = await loadClipImage(await png(300, 200, 3, flat), 64);
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < 64 * 64; i++) expect(Math.abs(img.data[c * 4096 + i]! - [200, 100, 30][c]! / 255)).toBeLessThanOrEqual(1 / 255);
    }
    const ramp = Buffer.alloc(256 * 128 * 3);
    for (let y = 0; y < 128; y++) for (let x = 0; x < 256; x++) ramp.fill(x, (y * 256 + x) * 3, (y * 256 + x) * 3 + 3);
    const r = await loadClipImage(await png(256, 128, 3, ramp), 64); // → 128×64, crop columns 32..95
    for (let x = 0; x < 64; x++) {
      const expected = (2 * (x + 32) + 0.5) / 255; // centre of the 2-pixel footprint
      expect(Math.abs(r.data[10 * 64 + x]! - expected)).toBeLessThanOrEqual(1.5 / 255);
    }
  });

  it('drops alpha and expands grey to RGB', async () => {
    const rgba = await loadClipImage(await png(64, 70, 4), 64);
    const grey = await loadClipImage(await png(70, 64, 1), 64);
    expect(rgba.data.length).toBe(3 * 64 * 64);
    expect(grey.data.length).toBe(3 * 64 * 64);
    expect(grey.data[5]).toBe(grey.data[4096 + 5]);
    expect(grey.data[5]).toBe(grey.data[2 * 4096 + 5]);
    // alpha is dropped, not composited: the RGB values are the file's own
    const raw = pattern(64, 70, 4);
    expect(rgba.data[4096 + 0]).toBe(Math.fround(raw[(3 * 64 + 0) * 4 + 1]! / 255)); // top = round(3) = 3
  });

  it('says which file it could not read', async () => {
    await expect(loadClipImage('/nonexistent/cat.png', 64)).rejects.toThrow(/\/nonexistent\/cat\.png: cannot read the image/);
  });

  it('normalizeClipPixels uses the CLIP mean and std per channel', () => {
    const x = new Float32Array(3 * 4).fill(0.5);
    const y = normalizeClipPixels(x, 2);
    for (let c = 0; c < 3; c++) expect(y[c * 4 + 3]).toBeCloseTo((0.5 - CLIP_MEAN[c]!) / CLIP_STD[c]!, 6);
  });
});

describe('fullFrameCutout (in the graph)', () => {
  /** torch adaptive_avg_pool2d on the centred square of an [H,W] plane. */
  function adaptivePool(x: Float32Array, h: number, w: number, out: number): Float32Array {
    const side = Math.min(h, w);
    const top = Math.floor((h - side) / 2);
    const left = Math.floor((w - side) / 2);
    const y = new Float32Array(out * out);
    for (let i = 0; i < out; i++) {
      for (let j = 0; j < out; j++) {
        const [y0, y1] = [Math.floor((i * side) / out), Math.ceil(((i + 1) * side) / out)];
        const [x0, x1] = [Math.floor((j * side) / out), Math.ceil(((j + 1) * side) / out)];
        let s = 0;
        for (let a = y0; a < y1; a++) for (let b = x0; b < x1; b++) s += x[(top + a) * w + left + b]!;
        y[i * out + j] = s / ((y1 - y0) * (x1 - x0));
      }
    }
    return y;
  }

  it('area-averages when shrinking (adaptive_avg_pool2d of the centred square) and passes gradients', async () => {
    const [h, w, out] = [10, 13, 4];
    const x = Float32Array.from({ length: h * w }, (_, i) => Math.sin(i * 0.7) + i / 50);
    const g = new Graph();
    const xi = g.input('x', [1, 1, h, w]);
    const y = fullFrameCutout(xi, out);
    expect(y.shape).toEqual([1, 1, out, out]);
    const weights = Float32Array.from({ length: out * out }, (_, i) => i + 1);
    const [gx] = grad(reduceSum(mul(y, g.constant(weights, [1, 1, out, out])), [0, 1, 2, 3], false), [xi]);
    g.output(y, 'y');
    g.output(gx!, 'gx');
    const r = await run(g, { x });
    const want = adaptivePool(x, h, w, out);
    for (let i = 0; i < want.length; i++) expect(r.y![i]).toBeCloseTo(want[i]!, 5);
    // the gradient is the transpose of the averaging: each weight spread over its window
    const gw = r.gx as Float32Array;
    const total = gw.reduce((a, b) => a + b, 0);
    expect(total).toBeCloseTo(weights.reduce((a, b) => a + b, 0), 3);
    expect(gw[0]).toBe(0); // column 0 lies outside the centred 10×10 square (left = 1)
  });

  it('is bilinear (half-pixel) when growing and the identity at the right size', async () => {
    expect(areaResizeMatrix(4, 2)).toEqual(Float32Array.from([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5]));
    const g = new Graph();
    const xi = g.input('x', [1, 2, 5, 5]);
    expect(fullFrameCutout(xi, 5)).toBe(xi);
    g.output(fullFrameCutout(xi, 8), 'ours');
    g.output(resizeLinear(xi, 8, 8), 'onnx');
    const r = await run(g, { x: Float32Array.from({ length: 50 }, (_, i) => Math.cos(i)) });
    for (let i = 0; i < 128; i++) expect(r.ours![i]).toBeCloseTo(r.onnx![i] as number, 5);
  });
});
