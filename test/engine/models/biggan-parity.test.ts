/**
 * BigGAN-deep against the official outputs of the biggan-tiny fixture (forward at two truncations, and
 * big-sleep's per-block variant with its gradients), run through ONNX Runtime. test/cli/inspect-biggan.test.ts
 * checks the same through `inspect biggan` / `inspect bigsleep`.
 */
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Graph, Session, grad, mul, serialize, sumAll, type HostArray } from '../../../src/engine/graph/index.ts';
import { BigganModel } from '../../../src/engine/models/biggan.ts';
import { bigSleepImage } from '../../../src/engine/models/bigsleep.ts';
import { readNpy } from '../../../src/engine/npy.ts';
import { gradientAgreement, maxAbsError } from '../../helpers/compare.ts';
import { bigganFixture } from '../../helpers/fixtures.ts';

const ref = (name: string) => readNpy(bigganFixture('cases', `${name}.npy`));
const f32 = (name: string) => ref(name).data as Float32Array;
interface Case { kind: string; truncation: number; output?: string; mode?: string; image?: string; grads?: string[]; loss_value?: number }
const cases = (JSON.parse(fs.readFileSync(bigganFixture('cases', 'cases.json'), 'utf8')) as { cases: Case[] }).cases;

async function run(g: Graph, feeds: Record<string, HostArray>): Promise<Record<string, Float32Array>> {
  const s = await Session.create(serialize(g));
  try {
    return (await s.run(feeds)) as Record<string, Float32Array>;
  } finally {
    await s.release();
  }
}

function expectClose(got: Float32Array, want: Float32Array): void {
  const { err, bound } = maxAbsError(got, want);
  expect(err).toBeLessThanOrEqual(bound);
}

describe('BigGAN-deep (biggan-tiny)', () => {
  let model: BigganModel;
  beforeAll(async () => {
    model = await BigganModel.load(bigganFixture('biggan'));
  });

  it('reads the config and folds every spectral norm', () => {
    expect(model.config).toMatchObject({ outputDim: 32, zDim: 16, channelWidth: 4, numClasses: 10, attentionLayerPosition: 2, nStats: 51 });
    expect(model.blocks).toBe(6);
    expect(model.numLatents).toBe(7);
    expect(model.imageSize).toBe(32);
    const names = model.params.names();
    expect(names.some((n) => /weight_(orig|u|v)$/.test(n))).toBe(false);
    expect(names).toContain('generator.layers.2.snconv1x1_theta.weight');
    expect(names).toContain('generator.conv_to_rgb.weight');
  });

  it.each(cases.filter((c) => c.kind === 'forward'))('matches BigGAN.forward at truncation $truncation', async (c) => {
    const z = ref('z');
    const cv = ref('class_vector');
    const g = new Graph();
    const zi = g.input('z', z.shape);
    const ci = g.input('class_vector', cv.shape);
    g.output(model.generate(g, zi, ci, c.truncation), 'image');
    const o = await run(g, { z: z.data as Float32Array, class_vector: cv.data as Float32Array });
    expect(ref(c.output!).shape).toEqual([2, 3, 32, 32]);
    expectClose(o.image!, f32(c.output!));
  });

  it.each(cases.filter((c) => c.kind === 'bigsleep'))('matches big-sleep ($mode): image and gradients', async (c) => {
    const normu = ref('bs_normu');
    const cls = ref('bs_cls');
    const probe = ref('bs_probe');
    const g = new Graph();
    const n = g.input('normu', normu.shape);
    const k = g.input('cls', cls.shape);
    const p = g.input('probe', probe.shape);
    const opts = c.mode === 'topk2' ? { maxClasses: 2, classTemperature: 2 } : {};
    const image = bigSleepImage(g, model, n, k, opts);
    const loss = sumAll(mul(image, p));
    const [gn, gc] = grad(loss, [n, k]);
    g.output(image, 'image');
    g.output(loss, 'loss');
    g.output(gn!, 'grad_normu');
    g.output(gc!, 'grad_cls');
    const o = await run(g, { normu: normu.data as Float32Array, cls: cls.data as Float32Array, probe: probe.data as Float32Array });
    expectClose(o.image!, f32(c.image!));
    expect(Math.abs(o.loss![0]! - c.loss_value!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(c.loss_value!)));
    for (const [got, name] of [[o.grad_normu!, c.grads![0]!], [o.grad_cls!, c.grads![1]!]] as const) {
      const { cosine, relL2 } = gradientAgreement(got, f32(name));
      expect(cosine, name).toBeGreaterThanOrEqual(0.9999);
      expect(relL2, name).toBeLessThanOrEqual(1e-3);
    }
  });
});
