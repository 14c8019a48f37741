/**
 * The tensors the engine expects in the default weight files, generated from the architecture rules
 * (docs: model-spec.md, Appendix A for CLIP in OpenAI/open_clip naming, Appendix D for the taming VQGAN).
 * test/models/expected.test.ts checks these lists against the appendices.
 */

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

export interface ClipHyper {
  embedDim: number;
  imageSize: number;
  patch: number;
  visionWidth: number;
  visionLayers: number;
  contextLength: number;
  vocabSize: number;
  textWidth: number;
  textLayers: number;
}

export const VIT_B_32: ClipHyper = {
  embedDim: 512,
  imageSize: 224,
  patch: 32,
  visionWidth: 768,
  visionLayers: 12,
  contextLength: 77,
  vocabSize: 49408,
  textWidth: 512,
  textLayers: 12,
};

function resblocks(prefix: string, layers: number, w: number): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.${i}`;
    out.push(
      { name: `${p}.attn.in_proj_weight`, shape: [3 * w, w] },
      { name: `${p}.attn.in_proj_bias`, shape: [3 * w] },
      { name: `${p}.attn.out_proj.weight`, shape: [w, w] },
      { name: `${p}.attn.out_proj.bias`, shape: [w] },
      { name: `${p}.ln_1.weight`, shape: [w] },
      { name: `${p}.ln_1.bias`, shape: [w] },
      { name: `${p}.mlp.c_fc.weight`, shape: [4 * w, w] },
      { name: `${p}.mlp.c_fc.bias`, shape: [4 * w] },
      { name: `${p}.mlp.c_proj.weight`, shape: [w, 4 * w] },
      { name: `${p}.mlp.c_proj.bias`, shape: [w] },
      { name: `${p}.ln_2.weight`, shape: [w] },
      { name: `${p}.ln_2.bias`, shape: [w] },
    );
  }
  return out;
}

/** CLIP state_dict in OpenAI / open_clip naming (302 tensors for ViT-B/32). */
export function clipTensors(h: ClipHyper = VIT_B_32): ExpectedTensor[] {
  const vw = h.visionWidth;
  const grid = h.imageSize / h.patch;
  return [
    { name: 'positional_embedding', shape: [h.contextLength, h.textWidth] },
    { name: 'text_projection', shape: [h.textWidth, h.embedDim] },
    { name: 'logit_scale', shape: [] },
    { name: 'visual.class_embedding', shape: [vw] },
    { name: 'visual.positional_embedding', shape: [grid * grid + 1, vw] },
    { name: 'visual.proj', shape: [vw, h.embedDim] },
    { name: 'visual.conv1.weight', shape: [vw, 3, h.patch, h.patch] },
    { name: 'visual.ln_pre.weight', shape: [vw] },
    { name: 'visual.ln_pre.bias', shape: [vw] },
    ...resblocks('visual.transformer.resblocks', h.visionLayers, vw),
    { name: 'visual.ln_post.weight', shape: [vw] },
    { name: 'visual.ln_post.bias', shape: [vw] },
    ...resblocks('transformer.resblocks', h.textLayers, h.textWidth),
    { name: 'token_embedding.weight', shape: [h.vocabSize, h.textWidth] },
    { name: 'ln_final.weight', shape: [h.textWidth] },
    { name: 'ln_final.bias', shape: [h.textWidth] },
  ];
}

export interface VqganHyper {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  resolution: number;
  zChannels: number;
  embedDim: number;
  nEmbed: number;
  inChannels: number;
  outCh: number;
}

export const F16_16384: VqganHyper = {
  ch: 128,
  chMult: [1, 1, 2, 2, 4],
  numResBlocks: 2,
  attnResolutions: [16],
  resolution: 256,
  zChannels: 256,
  embedDim: 256,
  nEmbed: 16384,
  inChannels: 3,
  outCh: 3,
};

function resnet(p: string, cin: number, cout: number): ExpectedTensor[] {
  const out: ExpectedTensor[] = [
    { name: `${p}.norm1.weight`, shape: [cin] },
    { name: `${p}.norm1.bias`, shape: [cin] },
    { name: `${p}.conv1.weight`, shape: [cout, cin, 3, 3] },
    { name: `${p}.conv1.bias`, shape: [cout] },
    { name: `${p}.norm2.weight`, shape: [cout] },
    { name: `${p}.norm2.bias`, shape: [cout] },
    { name: `${p}.conv2.weight`, shape: [cout, cout, 3, 3] },
    { name: `${p}.conv2.bias`, shape: [cout] },
  ];
  if (cin !== cout) out.push({ name: `${p}.nin_shortcut.weight`, shape: [cout, cin, 1, 1] }, { name: `${p}.nin_shortcut.bias`, shape: [cout] });
  return out;
}

function attn(p: string, c: number): ExpectedTensor[] {
  const out: ExpectedTensor[] = [
    { name: `${p}.norm.weight`, shape: [c] },
    { name: `${p}.norm.bias`, shape: [c] },
  ];
  for (const k of ['q', 'k', 'v', 'proj_out']) out.push({ name: `${p}.${k}.weight`, shape: [c, c, 1, 1] }, { name: `${p}.${k}.bias`, shape: [c] });
  return out;
}

function mid(p: string, c: number): ExpectedTensor[] {
  return [...resnet(`${p}.mid.block_1`, c, c), ...attn(`${p}.mid.attn_1`, c), ...resnet(`${p}.mid.block_2`, c, c)];
}

/** taming VQModel tensors: encoder, decoder, quantize, quant_conv, post_quant_conv (343 for f16_16384). */
export function vqganTensors(h: VqganHyper = F16_16384): ExpectedTensor[] {
  const levels = h.chMult.length;
  const out: ExpectedTensor[] = [];
  // encoder
  out.push({ name: 'encoder.conv_in.weight', shape: [h.ch, h.inChannels, 3, 3] }, { name: 'encoder.conv_in.bias', shape: [h.ch] });
  const inMult = [1, ...h.chMult];
  let res = h.resolution;
  let blockIn = h.ch;
  for (let i = 0; i < levels; i++) {
    blockIn = h.ch * inMult[i]!;
    const blockOut = h.ch * h.chMult[i]!;
    // state_dict order: a level's blocks, then its attentions (two ModuleLists), then its resampler
    for (let j = 0; j < h.numResBlocks; j++) {
      out.push(...resnet(`encoder.down.${i}.block.${j}`, blockIn, blockOut));
      blockIn = blockOut;
    }
    if (h.attnResolutions.includes(res)) for (let j = 0; j < h.numResBlocks; j++) out.push(...attn(`encoder.down.${i}.attn.${j}`, blockIn));
    if (i !== levels - 1) {
      out.push({ name: `encoder.down.${i}.downsample.conv.weight`, shape: [blockIn, blockIn, 3, 3] }, { name: `encoder.down.${i}.downsample.conv.bias`, shape: [blockIn] });
      res /= 2;
    }
  }
  out.push(...mid('encoder', blockIn));
  out.push(
    { name: 'encoder.norm_out.weight', shape: [blockIn] },
    { name: 'encoder.norm_out.bias', shape: [blockIn] },
    { name: 'encoder.conv_out.weight', shape: [h.zChannels, blockIn, 3, 3] },
    { name: 'encoder.conv_out.bias', shape: [h.zChannels] },
  );
  // decoder
  blockIn = h.ch * h.chMult[levels - 1]!;
  res = h.resolution / 2 ** (levels - 1);
  out.push({ name: 'decoder.conv_in.weight', shape: [blockIn, h.zChannels, 3, 3] }, { name: 'decoder.conv_in.bias', shape: [blockIn] });
  out.push(...mid('decoder', blockIn));
  // built from the lowest resolution up (channels chain that way), listed by level index as the
  // state_dict does (decoder.up is a ModuleList the constructor prepends to)
  const up: ExpectedTensor[][] = [];
  for (let i = levels - 1; i >= 0; i--) {
    const level: ExpectedTensor[] = [];
    const blockOut = h.ch * h.chMult[i]!;
    for (let j = 0; j < h.numResBlocks + 1; j++) {
      level.push(...resnet(`decoder.up.${i}.block.${j}`, blockIn, blockOut));
      blockIn = blockOut;
    }
    if (h.attnResolutions.includes(res)) for (let j = 0; j < h.numResBlocks + 1; j++) level.push(...attn(`decoder.up.${i}.attn.${j}`, blockIn));
    if (i !== 0) {
      level.push({ name: `decoder.up.${i}.upsample.conv.weight`, shape: [blockIn, blockIn, 3, 3] }, { name: `decoder.up.${i}.upsample.conv.bias`, shape: [blockIn] });
      res *= 2;
    }
    up[i] = level;
  }
  for (const level of up) out.push(...level);
  out.push(
    { name: 'decoder.norm_out.weight', shape: [blockIn] },
    { name: 'decoder.norm_out.bias', shape: [blockIn] },
    { name: 'decoder.conv_out.weight', shape: [h.outCh, blockIn, 3, 3] },
    { name: 'decoder.conv_out.bias', shape: [h.outCh] },
  );
  out.push(
    { name: 'quantize.embedding.weight', shape: [h.nEmbed, h.embedDim] },
    { name: 'quant_conv.weight', shape: [h.embedDim, h.zChannels, 1, 1] },
    { name: 'quant_conv.bias', shape: [h.embedDim] },
    { name: 'post_quant_conv.weight', shape: [h.zChannels, h.embedDim, 1, 1] },
    { name: 'post_quant_conv.bias', shape: [h.zChannels] },
  );
  return out;
}
