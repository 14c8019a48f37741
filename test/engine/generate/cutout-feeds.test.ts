/**
 * What a step feeds for its cutouts: a few small tensors drawn from the job's PRNG in a fixed order
 * (the warp matrices, the jitter and sharpness, the erase boxes, the noise scales and seed), from which
 * the graph makes the rest. The erase boxes give the masks the host used to feed, from the same draws.
 */
import { describe, expect, it } from 'vitest';
import { Graph, Session, serialize } from '../../../src/engine/graph/index.ts';
import { AUGMENTS, DEFAULT_AUGMENTS, eraseBoxes, eraseMask, sampleCutouts, type CutoutSpec } from '../../../src/engine/generate/cutouts.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';
import { eraseMasks } from './warp-reference.ts';

const latest: CutoutSpec = { method: 'latest', cutn: 32, cutSize: 224, cutPow: 1, augments: DEFAULT_AUGMENTS.latest, width: 256, height: 256 };

describe('the cutout feeds', () => {
  it('are under 1 MB a step at 256², 32 cutouts of 224 (latest): matrices, jitter, boxes, noise scales and seed', () => {
    const feeds = sampleCutouts(new Prng(1), latest);
    expect(Object.keys(feeds).sort()).toEqual(['erase_box', 'jitter', 'noise_scale', 'noise_seed', 'warp_mats']);
    const bytes = Object.values(feeds).reduce((a, f) => a + f.byteLength, 0);
    expect(bytes).toBeLessThan(8 * 1024);
  });

  it('are the same for the same PRNG state, drawn in a fixed order, and differ from step to step', () => {
    for (const method of ['original', 'updated', 'latest'] as const) {
      const spec: CutoutSpec = { ...latest, method, cutn: 4, cutSize: 32, augments: [...AUGMENTS], width: 48, height: 40 };
      const a = new Prng(9);
      const b = new Prng(a.state());
      const first = sampleCutouts(a, spec);
      expect(sampleCutouts(b, spec)).toEqual(first);
      expect(a.state()).toEqual(b.state());
      expect(sampleCutouts(a, spec).noise_seed).not.toEqual(first.noise_seed);
    }
  });

  it('erase boxes make the masks the host made, from the same draws', async () => {
    const s = 40;
    const cutn = 64;
    const g = new Graph();
    g.output(eraseMask(g, g.input('erase_box', [cutn, 4], 'int64'), s), 'mask');
    const session = await Session.create(serialize(g), { threads: 1 });
    const [a, b] = [new Prng(4), new Prng(4)];
    const boxes = eraseBoxes(a, cutn, s);
    const mask = (await session.run({ erase_box: boxes })).mask as Float32Array;
    await session.release();
    const want = eraseMasks(b, cutn, s);
    expect(a.state()).toEqual(b.state());
    expect(Buffer.from(mask.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    // some cutouts are erased and some are not
    const erased = Array.from({ length: cutn }, (_, c) => want.subarray(c * s * s, (c + 1) * s * s).includes(0));
    expect(erased.filter(Boolean).length).toBeGreaterThan(cutn / 2);
    expect(erased.filter((e) => !e).length).toBeGreaterThan(0);
  });
});
