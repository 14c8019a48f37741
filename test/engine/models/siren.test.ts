/**
 * SirenNet in process: parity with the siren-tiny fixture written by siren-pytorch (image ≤ 1e-4
 * relative; gradients for every weight cosine ≥ 0.9999 and relative L2 ≤ 1e-3, through ONNX Runtime),
 * the coordinate grid, initialisation from a seed, and the folder loader's checks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createOptimiser } from '../../../src/engine/generate/optimisers.ts';
import { Graph, Session, grad, mul, reshape, serialize, sumAll } from '../../../src/engine/graph/index.ts';
import { SIREN_DEFAULTS, SirenNet, sirenGrid, sirenLayout, type SirenConfig } from '../../../src/engine/models/siren.ts';
import { readNpy } from '../../../src/engine/npy.ts';
import { gradientAgreement, maxAbsError } from '../../helpers/compare.ts';
import { fixturesDir } from '../../helpers/fixtures.ts';
import { writeSafetensors } from '../weights/helpers.ts';

/** siren-tiny sits beside parity-tiny (../shared/fixtures); REVERIE_SIREN_FIXTURES overrides. */
const SIREN = process.env.REVERIE_SIREN_FIXTURES ?? path.resolve(fixturesDir, '../siren-tiny');
const f32 = (name: string) => readNpy(path.join(SIREN, 'cases', `${name}.npy`)).data as Float32Array;
const cases = JSON.parse(fs.readFileSync(path.join(SIREN, 'cases', 'cases.json'), 'utf8')) as {
  raw: string;
  image: string;
  grid: string;
  probe: string;
  loss_value: number;
  grads: Record<string, string>;
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'siren-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('SirenNet vs siren-pytorch (siren-tiny)', () => {
  it('reads the config and the weights under their named_parameters names', async () => {
    const net = await SirenNet.load(path.join(SIREN, 'siren'));
    expect(net.config).toEqual({ numLayers: 3, dimHidden: 16, w0: 1, w0Initial: 30, width: 16, height: 12 });
    expect(net.layout.map((p) => p.name)).toEqual(Object.keys(cases.grads));
  });

  it('builds the same coordinate grid, bit for bit', () => {
    expect(Array.from(sirenGrid(12, 16))).toEqual(Array.from(f32(cases.grid)));
  });

  it('matches the raw output, the image, the loss and every weight gradient', async () => {
    const net = await SirenNet.load(path.join(SIREN, 'siren'));
    const g = new Graph();
    const w = net.inputs(g);
    const raw = net.forward(g, w);
    const image = net.image(g, w);
    const probe = g.input('probe', image.shape);
    const loss = reshape(sumAll(mul(image, probe)), []);
    const grads = grad(loss, net.layout.map((p) => w[p.name]!));
    g.output(raw, 'raw');
    g.output(image, 'image');
    g.output(loss, 'loss');
    net.layout.forEach((p, i) => g.output(grads[i]!, p.name.replace(/\./g, '_')));
    const s = await Session.create(serialize(g));
    let out: Record<string, Float32Array>;
    try {
      out = (await s.run({ ...net.feeds(), probe: f32(cases.probe) })) as Record<string, Float32Array>;
    } finally {
      await s.release();
    }
    for (const [key, file] of [['raw', cases.raw], ['image', cases.image]] as const) {
      const { err, bound } = maxAbsError(out[key]!, f32(file));
      expect(err, `${key}: max|a−b| ${err}`).toBeLessThanOrEqual(bound);
    }
    expect(Math.abs(out.loss![0]! - cases.loss_value)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(cases.loss_value)));
    for (const [name, file] of Object.entries(cases.grads)) {
      const { cosine, relL2 } = gradientAgreement(out[name.replace(/\./g, '_')]!, f32(file));
      expect(cosine, `${name} cosine`).toBeGreaterThanOrEqual(0.9999);
      expect(relL2, `${name} relative L2`).toBeLessThanOrEqual(1e-3);
    }
  });
});

describe('SIREN initialisation and layout', () => {
  const cfg: SirenConfig = { ...SIREN_DEFAULTS, width: 8, height: 8 };

  it('has deep-daze’s default shape: 16 sine layers of 256 and a linear 256 → 3 last layer', () => {
    const layout = sirenLayout(cfg);
    expect(layout).toHaveLength(2 * 16 + 2);
    expect(layout[0]).toMatchObject({ name: 'layers.0.weight', shape: [256, 2], offset: 0 });
    expect(layout.at(-2)).toMatchObject({ name: 'last_layer.weight', shape: [3, 256] });
    const size = 256 * 2 + 256 + 15 * (256 * 256 + 256) + 3 * 256 + 3;
    expect(layout.at(-1)!.offset + layout.at(-1)!.size).toBe(size);
  });

  it('draws uniform(±1/dim) for the first layer and uniform(±√(6/dim)/w0) for the others, per seed', () => {
    const net = SirenNet.init(cfg, 42);
    for (const p of net.layout) {
      const want = p.name.startsWith('layers.0.') ? 1 / 2 : Math.sqrt(6 / 256) / cfg.w0;
      expect(p.bound, p.name).toBeCloseTo(want, 12);
      const v = net.params.subarray(p.offset, p.offset + p.size);
      const max = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(max, p.name).toBeLessThanOrEqual(p.bound);
      if (p.size >= 256) {
        expect(max, `${p.name} spans its range`).toBeGreaterThan(0.95 * p.bound);
        const mean = v.reduce((s, x) => s + x, 0) / p.size;
        const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / p.size;
        expect(Math.abs(mean), `${p.name} mean`).toBeLessThan((4 * p.bound) / Math.sqrt(3 * p.size));
        expect(variance / (p.bound ** 2 / 3), `${p.name} variance`).toBeGreaterThan(0.8);
        expect(variance / (p.bound ** 2 / 3), `${p.name} variance`).toBeLessThan(1.2);
      }
    }
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(SirenNet.init(cfg, 42).params).equals(bytes(net.params))).toBe(true);
    expect(bytes(SirenNet.init(cfg, 43).params).equals(bytes(net.params))).toBe(false);
  });

  it('uses w0 of the config in the hidden and last layers’ bounds', () => {
    const layout = sirenLayout({ ...cfg, numLayers: 2, dimHidden: 24, w0: 30 });
    expect(layout.find((p) => p.name === 'layers.1.bias')!.bound).toBeCloseTo(Math.sqrt(6 / 24) / 30, 12);
    expect(layout.find((p) => p.name === 'last_layer.weight')!.bound).toBeCloseTo(Math.sqrt(6 / 24) / 30, 12);
  });

  it('a fresh default network paints a finite picture in [0, 1] whose loss has finite, non-zero gradients', async () => {
    const net = SirenNet.init({ ...cfg, width: 24, height: 16 }, 3);
    const g = new Graph();
    const w = net.inputs(g, 'siren.');
    const image = net.image(g, w);
    const gs = grad(reshape(sumAll(image), []), [w['layers.0.weight']!, w['last_layer.bias']!]);
    g.output(image, 'image');
    gs.forEach((t, i) => g.output(t, `g${i}`));
    const s = await Session.create(serialize(g));
    try {
      const out = (await s.run(net.feeds(net.params, 'siren.'))) as Record<string, Float32Array>;
      expect(out.image!.length).toBe(3 * 16 * 24);
      expect(out.image!.every((v) => v >= 0 && v <= 1)).toBe(true);
      for (const k of ['g0', 'g1']) {
        expect(out[k]!.every(Number.isFinite)).toBe(true);
        expect(out[k]!.some((v) => v !== 0)).toBe(true);
      }
    } finally {
      await s.release();
    }
  });
});

describe('SIREN weights under the shared optimisers', () => {
  for (const name of ['AdamP', 'DiffGrad'] as const) {
    it(`${name} on the flat weights lowers sum(image · probe) over 15 steps`, async () => {
      const net = await SirenNet.load(path.join(SIREN, 'siren'));
      const g = new Graph();
      const w = net.inputs(g);
      const image = net.image(g, w);
      const loss = reshape(sumAll(mul(image, g.constant(f32(cases.probe), image.shape, 'probe'))), []);
      const gs = grad(loss, net.layout.map((p) => w[p.name]!));
      g.output(loss, 'loss');
      net.layout.forEach((p, i) => g.output(gs[i]!, p.name.replace(/\./g, '_')));
      const s = await Session.create(serialize(g));
      const opt = createOptimiser(name, 1e-3, net.size, { shapes: net.shapes });
      const flatGrad = new Float32Array(net.size);
      const losses: number[] = [];
      try {
        for (let k = 0; k < 15; k++) {
          const out = (await s.run(net.feeds())) as Record<string, Float32Array>;
          losses.push(out.loss![0]!);
          for (const p of net.layout) flatGrad.set(out[p.name.replace(/\./g, '_')]!, p.offset);
          opt.step(net.params, flatGrad);
        }
      } finally {
        await s.release();
      }
      expect(losses[0]).toBeCloseTo(cases.loss_value, 4);
      expect(losses.at(-1)!).toBeLessThan(losses[0]! - 1);
    });
  }
});

describe('SIREN folder checks', () => {
  const config = { num_layers: 1, dim_hidden: 4, w0: 1, w0_initial: 30, width: 3, height: 2 };
  const tensor = (name: string, shape: number[]) => ({ name, dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const good = [tensor('layers.0.weight', [4, 2]), tensor('layers.0.bias', [4]), tensor('last_layer.weight', [3, 4]), tensor('last_layer.bias', [3])];
  const folder = (name: string, cfg: object, tensors: ReturnType<typeof tensor>[]) => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
    fs.writeFileSync(path.join(dir, 'weights.safetensors'), writeSafetensors(tensors));
    return dir;
  };

  it('loads a consistent folder', async () => {
    const net = await SirenNet.load(folder('good', config, good));
    expect(net.size).toBe(8 + 4 + 12 + 3);
  });
  it('names the tensor whose shape disagrees with config.json', async () => {
    await expect(SirenNet.load(folder('shape', { ...config, dim_hidden: 5 }, good))).rejects.toThrow(/layers\.0\.weight has shape \[4,2\], config\.json gives \[5,2\]/);
  });
  it('refuses missing and unexpected tensors', async () => {
    await expect(SirenNet.load(folder('missing', config, good.slice(0, 3)))).rejects.toThrow(/missing tensor last_layer\.bias/);
    await expect(SirenNet.load(folder('extra', config, [...good, tensor('layers.1.weight', [4, 4])]))).rejects.toThrow(/unexpected tensors layers\.1\.weight/);
  });
  it('refuses a config without a size or with a bad layer count', async () => {
    await expect(SirenNet.load(folder('nosize', { ...config, width: undefined }, good))).rejects.toThrow(/"width" must be a number/);
    await expect(SirenNet.load(folder('zero', { ...config, num_layers: 0 }, good))).rejects.toThrow(/numLayers must be a positive integer/);
  });
});
