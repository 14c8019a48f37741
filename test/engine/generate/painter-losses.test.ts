/**
 * The painters' losses against direct float64 computations of big-sleep's and deep-daze's formulas
 * (lat_loss with torch.std's unbiased std, skew and kurtosis per row; cls_loss over the 999-of-1000
 * smallest, here all but each row's largest; −100 · cos; deep-daze's averaged + per-cutout mix).
 */
import { describe, expect, it } from 'vitest';
import { Graph, Session, serialize } from '../../../src/engine/graph/index.ts';
import { BigganPainter } from '../../../src/engine/generate/biggan-painter.ts';
import { BigganModels } from '../../../src/engine/generate/biggan-models.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';
import { SirenPainter } from '../../../src/engine/generate/siren-painter.ts';
import type { Painter } from '../../../src/engine/generate/painter.ts';
import { bigganFixture } from '../../helpers/fixtures.ts';
import { base, tinyModels } from './helpers.ts';

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0) / Math.sqrt(a.reduce((s, x) => s + x * x, 0) * b.reduce((s, x) => s + x * x, 0));

async function lossOf(p: Painter, z: Float32Array, embeds: Float32Array, targets: Float32Array, sign: number[], coef: number[], C: number, D: number): Promise<number> {
  const g = new Graph();
  const K = sign.length;
  const loss = p.loss(g, {
    z: g.input('z', p.varShape), embeds: g.input('embeds', [C, D]), targets: g.input('targets', [K, D]),
    sign: g.input('sign', [K]), coef: g.input('coef', [K]), stop: g.input('stop', [K]),
  });
  g.output(loss, 'loss');
  const s = await Session.create(serialize(g), { threads: 1 });
  try {
    const out = await s.run({ z, embeds, targets, sign: Float32Array.from(sign), coef: Float32Array.from(coef), stop: new Float32Array(K).fill(-Infinity) });
    return (out.loss as Float32Array)[0]!;
  } finally {
    await s.release();
  }
}

function rows(a: Float32Array, r: number, c: number, offset = 0): number[][] {
  return Array.from({ length: r }, (_, i) => Array.from(a.subarray(offset + i * c, offset + (i + 1) * c)));
}

describe('painter losses', () => {
  const C = 3;
  const D = 6;
  const rng = new Prng(8);
  const embeds = rng.fillNormal(new Float32Array(C * D));
  const targets = rng.fillNormal(new Float32Array(2 * D));
  const sim = (sign: number[], coef: number[], averaged: boolean) => {
    const E = rows(embeds, C, D);
    const es = averaged ? [E[0]!.map((_, k) => mean(E.map((e) => e[k]!)))] : E;
    return rows(targets, 2, D).reduce((s, t, k) => s - 100 * sign[k]! * coef[k]! * mean(es.map((e) => cos(e, t))), 0);
  };

  it("BigGAN: big-sleep's lat_loss + cls_loss − 100 · Σ sign · mean cos", async () => {
    const models = await tinyModels();
    const biggan = await new BigganModels(bigganFixture('biggan')).forSize(32);
    const p = new BigganPainter(models.clip, biggan, base({ model: 'biggan', cutn: C }));
    const z = await p.init(new Prng(5));
    const R = biggan.numLatents;
    const n = biggan.config.zDim;
    const K = biggan.config.numClasses;
    const normu = rows(z, R, n);
    const cls = rows(z, R, K, R * n).map((r) => r.map((x) => 1 / (1 + Math.exp(-x))));
    let lat = mean(normu.map((r) => Math.abs(1 - Math.sqrt(r.reduce((s, x) => s + (x - mean(r)) ** 2, 0) / (n - 1)))));
    lat += mean(normu.map((r) => Math.abs(mean(r))));
    lat += 4 * Math.max(mean(normu.flat().map((x) => x * x)), 1);
    for (const r of normu) {
      const m = mean(r);
      const sd = Math.sqrt(mean(r.map((x) => (x - m) ** 2)));
      const zs = r.map((x) => (x - m) / sd);
      lat += Math.abs(mean(zs.map((x) => x ** 4)) - 3) / R + Math.abs(mean(zs.map((x) => x ** 3))) / R;
    }
    const clsLoss = mean(cls.flatMap((r) => [...r].sort((a, b) => a - b).slice(0, K - 1).map((x) => (50 * x) ** 2)));
    const sign = [1, -1];
    const coef = [1, 0.5];
    const want = lat + clsLoss + sim(sign, coef, false);
    const got = await lossOf(p, z, embeds, targets, sign, coef, C, D);
    expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
  });

  it("SIREN: deep-daze's 0.3 · averaged + 0.7 · per-cutout loss", async () => {
    const models = await tinyModels();
    const p = new SirenPainter(models.clip, base({ model: 'siren', width: 8, height: 8, cutn: C }), { numLayers: 2, dimHidden: 4 });
    const z = await p.init(new Prng(1));
    const sign = [1, 1];
    const coef = [1, 0];
    const want = 0.3 * sim(sign, coef, true) + 0.7 * sim(sign, coef, false);
    const got = await lossOf(p, z, embeds, targets, sign, coef, C, D);
    expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
  });
});
