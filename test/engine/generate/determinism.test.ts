/**
 * Exact, deterministic gradients at any thread count. The warp augments' gather used to be undone by a
 * ScatterND-add that races in ONNX Runtime's multi-threaded CPU kernel; its adjoint is now a sorted
 * (TopK in the graph), float64 prefix-sum reduction. Checked: that node alone against an exact float64
 * sum at 1, 2 and 4 threads; the whole step's gradient with the warp augments at 2 threads against 1
 * thread; and a run and its resume from a checkpoint at 2 threads, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph, Session, gatherTaps, grad, mul, reduceSum, reshape, serialize, type HostArray } from '../../../src/engine/graph/index.ts';
import { DEFAULT_AUGMENTS, sampleCutouts, type CutoutSpec } from '../../../src/engine/generate/cutouts.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';
import { buildStepGraph } from '../../../src/engine/generate/step-graph.ts';
import { Engine, type EngineState } from '../../../src/engine/generate/generator.ts';
import { warpTaps } from '../../../src/engine/generate/warp-taps.ts';
import { base, cosine, tinyModels } from './helpers.ts';

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

describe('the warp gather adjoint', () => {
  it('equals the exact float64 sum at 1, 2 and 4 threads, with the same bits each time', async () => {
    // the real cutout size and the 'latest' warps (all cutouts sample one pooled image: many collisions)
    const s = 224;
    const cutn = 8;
    const spec: CutoutSpec = { method: 'latest', cutn, cutSize: s, cutPow: 1, augments: DEFAULT_AUGMENTS.latest, width: 256, height: 256 };
    const mats = sampleCutouts(new Prng(5), spec).warp_mats!;
    const tapGraph = new Graph();
    const taps = warpTaps(tapGraph, tapGraph.input('warp_mats', [cutn, 9]), s, true);
    tapGraph.output(taps.keys, 'keys');
    tapGraph.output(taps.weights, 'weights');
    const tapSession = await Session.create(serialize(tapGraph), { threads: 1 });
    const { keys, weights } = (await tapSession.run({ warp_mats: mats })) as { keys: BigInt64Array; weights: Float32Array };
    await tapSession.release();

    const n = cutn * s * s;
    const rows = (s + 4) ** 2; // the source with its zero border
    const g = new Graph();
    const flat = g.input('flat', [rows, 3]);
    const probe = g.input('probe', [4, n, 3]);
    // as the warp gathers one shared source: the samples sorted in two runs, each against all rows
    const sampled = mul(gatherTaps(flat, g.input('keys', [n], 'int64'), taps.offsets, 2, true), g.input('weights', [4, n, 1]));
    const loss = reshape(reduceSum(mul(sampled, probe), [0, 1, 2], false), []);
    g.output(grad(loss, [flat])[0]!, 'grad');
    const probeData = Float32Array.from({ length: 4 * n * 3 }, (_, i) => Math.sin(i * 0.37) * 0.01);
    const run: Record<string, HostArray> = { flat: new Float32Array(rows * 3), probe: probeData, keys, weights };
    const exact = new Float64Array(rows * 3);
    for (let k = 0; k < 4; k++) {
      for (let t = 0; t < n; t++) {
        const d = Number(keys[t]!) + taps.offsets[k]!;
        for (let c = 0; c < 3; c++) exact[d * 3 + c]! += probeData[(k * n + t) * 3 + c]! * weights[k * n + t]!;
      }
    }
    const model = serialize(g);
    const results: Float32Array[] = [];
    for (const threads of [1, 2, 4]) {
      const session = await Session.create(model, { threads });
      try {
        for (let k = 0; k < 2; k++) results.push((await session.run(run)).grad as Float32Array);
      } finally {
        await session.release();
      }
    }
    for (const r of results) {
      expect(relL2(r, exact)).toBeLessThan(1e-6);
      expect(Buffer.from(r.buffer).equals(Buffer.from(results[0]!.buffer))).toBe(true);
    }
  });
});

describe('the whole step with the warp augments', () => {
  let engine2: Engine;
  beforeAll(async () => {
    engine2 = new Engine(await tinyModels(), 'cpu', 2);
  });
  afterAll(async () => {
    await engine2?.release();
  });

  it('gives the 1-thread gradient at 2 threads, and the same bits on every run', async () => {
    const { clip, vqgan } = await tinyModels();
    const size = clip.inputSize;
    const factor = 4;
    const cut: CutoutSpec = { method: 'latest', cutn: 8, cutSize: size, cutPow: 1, augments: DEFAULT_AUGMENTS.latest, width: 64, height: 64 };
    const zShape = [1, vqgan.config.embedDim, 64 / factor, 64 / factor] as const;
    const built = buildStepGraph(clip, vqgan, { zShape, cut, targets: 1 });
    const rng = new Prng(9);
    const zSize = zShape.reduce((a, b) => a * b, 1);
    const D = clip.config.embedDim;
    const z = new Float32Array(zSize);
    rng.fillNormal(z, 1);
    const target = new Float32Array(D);
    rng.fillNormal(target, 1);
    const feeds: Record<string, HostArray> = {
      z,
      targets: target,
      target_sign: Float32Array.of(1),
      target_coef: Float32Array.of(1 / 8),
      target_stop: Float32Array.of(-1e30),
      init_anchor: new Float32Array(zSize),
      init_coef: Float32Array.of(0),
      ...sampleCutouts(rng, cut),
    };
    const grads: Float32Array[] = [];
    for (const threads of [1, 2, 2]) {
      const session = await Session.create(built.model, { threads });
      try {
        grads.push((await session.run(feeds, ['grad_z'])).grad_z as Float32Array);
      } finally {
        await session.release();
      }
    }
    const [one, two, again] = grads as [Float32Array, Float32Array, Float32Array];
    expect(cosine(two, one)).toBeGreaterThan(0.9999);
    expect(relL2(two, one)).toBeLessThan(1e-4);
    expect(Buffer.from(again.buffer).equals(Buffer.from(two.buffer))).toBe(true);
  });

  it('30 steps with the latest cutouts at 2 threads: one seed, the same PNG; resumed, the same PNG', async () => {
    const settings = base({ steps: 30, seed: 21, cutMethod: 'latest', augments: DEFAULT_AUGMENTS.latest, cutn: 8, saveEvery: 12 });
    const snaps: EngineState[] = [];
    const a = await engine2.generate(settings, { onSnapshot: (s) => snaps.push(s.state) });
    const b = await engine2.generate(settings);
    expect(Buffer.compare(a.png, b.png)).toBe(0);
    expect(snaps.length).toBeGreaterThan(0);
    const resumed = await engine2.generate(settings, { resume: snaps.at(-1)! });
    expect(Buffer.compare(resumed.png, a.png)).toBe(0);
  });
});
