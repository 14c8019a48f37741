/**
 * The models in process against the official outputs of the parity-tiny fixtures (the CLI tests in
 * test/cli/inspect.test.ts check the same through `inspect`; these point at the model when both fail).
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { oneCutoutLoss } from '../../../src/cli/inspect.ts';
import { Graph, Session, add, div, grad, reshape, serialize, type HostArray } from '../../../src/engine/graph/index.ts';
import { ClipModel, eotPositions } from '../../../src/engine/models/clip.ts';
import { VqganModel } from '../../../src/engine/models/vqgan.ts';
import { readNpy } from '../../../src/engine/npy.ts';
import { gradientAgreement, maxAbsError } from '../../helpers/compare.ts';
import { fixture } from '../../helpers/fixtures.ts';

const ref = (name: string) => readNpy(fixture('cases', name));
const f32 = (name: string) => ref(name).data as Float32Array;
const cases = JSON.parse(fs.readFileSync(fixture('cases', 'cases.json'), 'utf8')) as { loss: number };

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

describe.each(['clip-openai', 'clip-hf'])('CLIP from %s', (dir) => {
  it('infers the fixture sizes and matches encode_text and encode_image', async () => {
    const clip = await ClipModel.load(fixture(dir));
    expect(clip.config).toEqual({
      embedDim: 32,
      vision: { width: 128, layers: 2, heads: 2, patch: 16, grid: 4, resolution: 64 },
      text: { width: 64, layers: 2, heads: 2, contextLength: 77, vocabSize: 49408 },
    });
    const tokens = ref('tokens.npy');
    const image = ref('image.npy');
    const g = new Graph();
    const tk = g.input('tokens', tokens.shape, 'int64');
    const eot = g.input('eot', [tokens.shape[0]!], 'int64');
    const x = g.input('image', image.shape);
    g.output(clip.encodeText(g, tk, eot), 'text');
    g.output(clip.encodeImage(g, clip.normalize(g, x)), 'image_embed');
    const ids = tokens.data as BigInt64Array;
    const o = await run(g, { tokens: ids, eot: eotPositions(ids, 6, 77), image: image.data as Float32Array });
    expectClose(o.text!, f32('text_embed.npy'));
    expectClose(o.image_embed!, f32('image_embed.npy'));
  });
});

describe('VQGAN', () => {
  it('decodes, encodes and quantises like taming, and the one-cutout gradient matches', async () => {
    const vq = await VqganModel.load(fixture('vqgan'));
    expect(vq.config).toEqual({ embedDim: 16, nEmbed: 128, zChannels: 16, levels: 3, factor: 4, gumbel: false });
    const clip = await ClipModel.load(fixture('clip-openai'));
    const g = new Graph();
    const z = g.input('z', [1, 16, 16, 16]);
    const x = g.input('x', [1, 3, 64, 64]);
    const target = g.input('target', [1, 32]);
    g.output(vq.decode(g, z), 'decode');
    g.output(vq.decode(g, vq.quantize(g, z).zq), 'decode_q');
    const pre = vq.encode(g, add(div(x, 0.5), -1));
    g.output(pre, 'pre');
    g.output(vq.quantize(g, pre).zq, 'pre_q');
    const loss = reshape(oneCutoutLoss(g, clip, vq, z, target).losses, []);
    g.output(loss, 'loss');
    g.output(grad(loss, [z])[0]!, 'grad');
    const o = await run(g, { z: f32('z.npy'), x: f32('encode_input.npy'), target: f32('text_embed.npy').slice(0, 32) });
    expectClose(o.decode!, f32('decode.npy'));
    expectClose(o.decode_q!, f32('decode_quantized.npy'));
    expectClose(o.pre!, f32('encode_prequant.npy'));
    expectClose(o.pre_q!, f32('encode_quantized.npy'));
    expect(Math.abs(o.loss![0]! - cases.loss)).toBeLessThanOrEqual(1e-4);
    const { cosine, relL2 } = gradientAgreement(o.grad!, f32('grad_z.npy'));
    expect(cosine).toBeGreaterThanOrEqual(0.9999);
    expect(relL2).toBeLessThanOrEqual(1e-3);
  });
});
