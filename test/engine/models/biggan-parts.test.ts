/** The pieces of the BigGAN model that the tiny fixture does not reach on its own. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph } from '../../../src/engine/graph/index.ts';
import { BigganModel, findBigganFiles, foldSpectralNorm, parseBigganConfig, statsRow } from '../../../src/engine/models/biggan.ts';
import { openWeights } from '../../../src/engine/weights/index.ts';
import { PyOrderedDict, PyTensor, writeTorchLegacy } from '../weights/helpers.ts';
import { bigSleepClasses, differentiableTopK } from '../../../src/engine/models/bigsleep.ts';
import { gradcheck, spaced } from '../graph/gradcheck.ts';
import { bigganFixture } from '../../helpers/fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'biggan-parts-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** big-sleep's differentiable_topk in float64: k rounds of softmax over what is left, each keeping its winner. */
function topkReference(x: Float32Array, rows: number, cols: number, k: number, t: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const v = Array.from(x.subarray(r * cols, (r + 1) * cols), (a) => a / t);
    for (let i = 0; i < k; i++) {
      const m = Math.max(...v);
      const e = v.map((a) => Math.exp(a - m));
      const s = e.reduce((a, b) => a + b, 0);
      const j = v.indexOf(m);
      out[r * cols + j] = e[j]! / s;
      v[j] = -Infinity;
    }
  }
  return out;
}

describe('big-sleep classes', () => {
  it.each([[1, 2], [3, 0.5], [8, 2]])('differentiable top-%i (temperature %f): values and gradients', async (k, t) => {
    await gradcheck({
      inputs: [{ shape: [3, 8], gen: spaced(0.05, -0.6) }],
      build: (_, [x]) => differentiableTopK(x!, k, t),
      reference: ([x]) => topkReference(x!, 3, 8, k, t),
    });
  });

  it('sigmoid without max classes; clear errors for bad k and temperature', () => {
    const g = new Graph();
    const x = g.input('cls', [2, 5]);
    expect(bigSleepClasses(x).producer!.op).toBe('Sigmoid');
    expect(() => differentiableTopK(x, 6, 2)).toThrow(/max classes must be an integer in \[1, 5\], got 6/);
    expect(() => differentiableTopK(x, 2, 0)).toThrow(/class temperature must be positive, got 0/);
  });
});

describe('truncation statistics rows', () => {
  const rows = { data: Float32Array.from({ length: 51 * 2 }, (_, i) => Math.floor(i / 2) + (i % 2) * 0.5), shape: [51, 2] };
  it('takes the row of an exact step, and weights rows[start]·coef + rows[start+1]·(1−coef) between steps', () => {
    expect([...statsRow(rows, 1, 51)]).toEqual([50, 50.5]);
    expect([...statsRow(rows, 0.4, 51)]).toEqual([20, 20.5]);
    // 0.45 / 0.02 = 22.5: coef 0.5
    expect([...statsRow(rows, 0.45, 51)]).toEqual([22.5, 23]);
    // float64 quirks kept on purpose: 0.14 / 0.02 = 7.000000000000001, so coef ≈ 1e-15 and the result is
    // ≈ row 8, not row 7; 0.58 / 0.02 = 28.999999999999996, so ≈ row 28, not row 29
    expect(statsRow(rows, 0.14, 51)[0]).toBeCloseTo(8, 5);
    expect(statsRow(rows, 0.58, 51)[0]).toBeCloseTo(28, 5);
    expect(() => statsRow(rows, 1.5, 51)).toThrow(/needs statistics row 75, outside the 51 rows/);
  });
});

describe('spectral norm folding', () => {
  it('divides weight_orig by u · (W v) over the weight as [out, -1]', () => {
    const orig = { data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]), shape: [2, 2, 2, 1] };
    const u = Float32Array.from([0.6, 0.8]);
    const v = Float32Array.from([1, 0, 0, 1]);
    // W v = [1 + 4, 5 + 8] = [5, 13]; σ = 0.6·5 + 0.8·13 = 13.4
    const w = foldSpectralNorm(orig, u, v, 'x');
    expect(w.shape).toEqual([2, 2, 2, 1]);
    expect(w.data[7]).toBeCloseTo(8 / 13.4, 6);
    expect(() => foldSpectralNorm(orig, u, Float32Array.from([1, 0]), 'conv')).toThrow(/conv: weight_u \[2\] \/ weight_v \[2\] do not fit weight_orig \[2,2,2,1\]/);
  });
});

describe('BigGAN folders and configs', () => {
  it('finds config.json and pytorch_model.bin, with clear errors', () => {
    expect(findBigganFiles(bigganFixture('biggan')).weights).toMatch(/pytorch_model\.bin$/);
    expect(() => findBigganFiles(path.join(tmp, 'none'))).toThrow(/BigGAN model folder not found/);
    fs.writeFileSync(path.join(tmp, 'config.json'), '{}');
    expect(() => findBigganFiles(tmp)).toThrow(/no pytorch_model\.bin in /);
  });

  it('checks the config', () => {
    const good = JSON.parse(fs.readFileSync(bigganFixture('biggan', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(parseBigganConfig(good, 'c.json').layers).toHaveLength(6);
    expect(() => parseBigganConfig({ ...good, z_dim: 'x' }, 'c.json')).toThrow(/c\.json: "z_dim" should be a non-negative integer, got "x"/);
    expect(() => parseBigganConfig({ ...good, layers: [[true, 1]] }, 'c.json')).toThrow(/"layers" should be a list of \[up-sample\?, in, out\] triples/);
    expect(() => parseBigganConfig({ ...good, n_stats: 1 }, 'c.json')).toThrow(/"n_stats" should be at least 2/);
  });

  it('uses the saved weight of an older file (weight_orig, weight_u and weight, no weight_v)', async () => {
    const src = await openWeights(bigganFixture('biggan', 'pytorch_model.bin'));
    const entries: [string, PyTensor][] = [];
    const storages: Record<string, Float32Array> = {};
    const add = (name: string, data: Float32Array, shape: number[]) => {
      const key = String(entries.length);
      const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
      entries.push([name, new PyTensor({ key, type: 'FloatStorage', numel: data.length, view: null }, 0, shape, stride)]);
      storages[key] = data;
    };
    try {
      for (const [name, info] of src.tensors) {
        if (name.endsWith('.weight_v')) continue;
        add(name, src.float32(name), info.shape);
        if (name.endsWith('.weight_orig')) {
          const base = name.slice(0, -'.weight_orig'.length);
          const folded = foldSpectralNorm({ data: src.float32(name), shape: info.shape }, src.float32(`${base}.weight_u`), src.float32(`${base}.weight_v`), base);
          add(`${base}.weight`, folded.data, info.shape);
        }
      }
    } finally {
      src.close();
    }
    const dir = fs.mkdtempSync(path.join(tmp, 'old-'));
    fs.copyFileSync(bigganFixture('biggan', 'config.json'), path.join(dir, 'config.json'));
    writeTorchLegacy(path.join(dir, 'pytorch_model.bin'), new PyOrderedDict(entries), storages);
    const [old, cur] = await Promise.all([BigganModel.load(dir), BigganModel.load(bigganFixture('biggan'))]);
    expect(old.params.names().sort()).toEqual(cur.params.names().sort());
    for (const n of ['generator.gen_z.weight', 'generator.layers.2.snconv1x1_g.weight', 'generator.conv_to_rgb.weight']) {
      expect(old.params.array(n).data).toEqual(cur.params.array(n).data);
    }
  });
});
