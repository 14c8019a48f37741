/**
 * The tensors of the BigGAN-deep release files (huggingface/pytorch-pretrained-BigGAN `pytorch_model.bin`),
 * generated from the architecture rules in state_dict order, like expected.ts does for CLIP and VQGAN.
 * Spectral-normalised layers store weight_orig, weight_u and weight_v; batch norms hold n_stats rows of
 * statistics. test/models/expected-biggan.test.ts checks the rules against the biggan-tiny fixture file.
 */
import type { ExpectedTensor } from './expected.ts';

export interface BigganHyper {
  outputDim: number;
  zDim: number;
  channelWidth: number;
  numClasses: number;
  /** per GenBlock: [up-sample?, in, out] as multiples of channelWidth */
  layers: [boolean, number, number][];
  attentionLayerPosition: number;
  nStats: number;
}

/**
 * BigGAN-deep: two GenBlocks per resolution (the second up-samples and takes the next channel multiplier),
 * from 4×4 with multipliers `mults` (one per resolution, 4×4 first), attention at 64×64.
 */
function deep(outputDim: number, mults: number[]): BigganHyper {
  const layers: [boolean, number, number][] = [];
  for (let i = 0; i + 1 < mults.length; i++) layers.push([false, mults[i]!, mults[i]!], [true, mults[i]!, mults[i + 1]!]);
  const attentionRes = 64;
  const attentionLayerPosition = 2 * Math.log2(attentionRes / 4);
  return { outputDim, zDim: 128, channelWidth: 128, numClasses: 1000, layers, attentionLayerPosition, nStats: 51 };
}

export const BIGGAN_DEEP_128 = deep(128, [16, 16, 8, 4, 2, 1]);
export const BIGGAN_DEEP_256 = deep(256, [16, 16, 8, 8, 4, 2, 1]);
export const BIGGAN_DEEP_512 = deep(512, [16, 16, 8, 8, 4, 2, 1, 1]);

/** BigGAN-deep config.json values, as the release writes them (snake_case). */
export function bigganConfigJson(h: BigganHyper): Record<string, unknown> {
  return {
    output_dim: h.outputDim, z_dim: h.zDim, class_embed_dim: h.zDim, channel_width: h.channelWidth, num_classes: h.numClasses,
    layers: h.layers, attention_layer_position: h.attentionLayerPosition, eps: 1e-4, n_stats: h.nStats,
  };
}

/** A spectral-normalised layer's three tensors (bias first when it has one: weight_orig is registered after it). */
function sn(p: string, shape: number[], bias: boolean): ExpectedTensor[] {
  const out = shape[0]!;
  const rest = shape.slice(1).reduce((a, b) => a * b, 1);
  return [
    ...(bias ? [{ name: `${p}.bias`, shape: [out] }] : []),
    { name: `${p}.weight_orig`, shape },
    { name: `${p}.weight_u`, shape: [out] },
    { name: `${p}.weight_v`, shape: [rest] },
  ];
}

function condBn(p: string, c: number, cond: number, nStats: number): ExpectedTensor[] {
  return [
    { name: `${p}.running_means`, shape: [nStats, c] },
    { name: `${p}.running_vars`, shape: [nStats, c] },
    ...sn(`${p}.scale`, [c, cond], false),
    ...sn(`${p}.offset`, [c, cond], false),
  ];
}

/** BigGAN-deep state_dict names and shapes (embeddings, then the generator), in state_dict order. */
export function bigganTensors(h: BigganHyper = BIGGAN_DEEP_256): ExpectedTensor[] {
  const ch = h.channelWidth;
  const cond = 2 * h.zDim;
  const out: ExpectedTensor[] = [{ name: 'embeddings.weight', shape: [h.zDim, h.numClasses] }];
  out.push(...sn('generator.gen_z', [4 * 4 * 16 * ch, cond], true));
  let m = 0;
  h.layers.forEach(([, cin, cout], i) => {
    if (i === h.attentionLayerPosition) {
      const c = ch * cin;
      const p = `generator.layers.${m++}`;
      out.push(
        { name: `${p}.gamma`, shape: [1] },
        ...sn(`${p}.snconv1x1_theta`, [c / 8, c, 1, 1], false),
        ...sn(`${p}.snconv1x1_phi`, [c / 8, c, 1, 1], false),
        ...sn(`${p}.snconv1x1_g`, [c / 2, c, 1, 1], false),
        ...sn(`${p}.snconv1x1_o_conv`, [c, c / 2, 1, 1], false),
      );
    }
    const p = `generator.layers.${m++}`;
    const [inC, outC] = [ch * cin, ch * cout];
    const mid = inC / 4;
    out.push(
      ...condBn(`${p}.bn_0`, inC, cond, h.nStats), ...sn(`${p}.conv_0`, [mid, inC, 1, 1], true),
      ...condBn(`${p}.bn_1`, mid, cond, h.nStats), ...sn(`${p}.conv_1`, [mid, mid, 3, 3], true),
      ...condBn(`${p}.bn_2`, mid, cond, h.nStats), ...sn(`${p}.conv_2`, [mid, mid, 3, 3], true),
      ...condBn(`${p}.bn_3`, mid, cond, h.nStats), ...sn(`${p}.conv_3`, [outC, mid, 1, 1], true),
    );
  });
  out.push(
    { name: 'generator.bn.weight', shape: [ch] },
    { name: 'generator.bn.bias', shape: [ch] },
    { name: 'generator.bn.running_means', shape: [h.nStats, ch] },
    { name: 'generator.bn.running_vars', shape: [h.nStats, ch] },
    ...sn('generator.conv_to_rgb', [ch, ch, 3, 3], true),
  );
  return out;
}
