import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listTensors } from '../../src/engine/weights/index.ts';
import { BIGGAN_DEEP_128, BIGGAN_DEEP_256, BIGGAN_DEEP_512, bigganConfigJson, bigganTensors } from '../../src/engine/models/expected-biggan.ts';
import { bigganFixture } from '../helpers/fixtures.ts';

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('expected BigGAN-deep tensors', () => {
  it('follow the official state_dict exactly (names, shapes, order) on the biggan-tiny file', async () => {
    const c = JSON.parse(fs.readFileSync(bigganFixture('biggan', 'config.json'), 'utf8')) as Record<string, unknown>;
    const want = bigganTensors({
      outputDim: c.output_dim as number, zDim: c.z_dim as number, channelWidth: c.channel_width as number, numClasses: c.num_classes as number,
      layers: c.layers as [boolean, number, number][], attentionLayerPosition: c.attention_layer_position as number, nStats: c.n_stats as number,
    });
    const got = [...(await listTensors(bigganFixture('biggan', 'pytorch_model.bin'))).values()].map((t) => ({ name: t.name, shape: t.shape }));
    expect(got).toEqual(want);
  });

  it('give the release sizes: 128/256/512 with 10/12/14 GenBlocks, attention at 64×64, ≈56 M parameters at 256', () => {
    for (const [h, blocks, size] of [[BIGGAN_DEEP_128, 10, 128], [BIGGAN_DEEP_256, 12, 256], [BIGGAN_DEEP_512, 14, 512]] as const) {
      expect(h.layers).toHaveLength(blocks);
      expect(4 * 2 ** h.layers.filter((l) => l[0]).length).toBe(size);
      expect(h.attentionLayerPosition).toBe(8);
    }
    expect(BIGGAN_DEEP_256.layers).toEqual([
      [false, 16, 16], [true, 16, 16], [false, 16, 16], [true, 16, 8], [false, 8, 8], [true, 8, 8],
      [false, 8, 8], [true, 8, 4], [false, 4, 4], [true, 4, 2], [false, 2, 2], [true, 2, 1],
    ]);
    const t256 = bigganTensors(BIGGAN_DEEP_256);
    expect(t256).toHaveLength(602);
    // learnable parameters (not the power-iteration vectors or the statistics), and the file's float count
    expect(t256.filter((t) => !/weight_[uv]$|running_/.test(t.name)).reduce((a, t) => a + numel(t.shape), 0)).toBe(55_880_833);
    expect(t256.reduce((a, t) => a + numel(t.shape), 0) * 4).toBe(234_292_740);
    expect(bigganConfigJson(BIGGAN_DEEP_256)).toMatchObject({ output_dim: 256, z_dim: 128, class_embed_dim: 128, channel_width: 128, num_classes: 1000, eps: 1e-4, n_stats: 51 });
  });
});
