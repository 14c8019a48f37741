import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTensors, openWeights, PickleObject, type WeightFile } from '../../../src/engine/weights/index.ts';
import { fixture } from '../../helpers/fixtures.ts';

const shapeOf = (wf: WeightFile, name: string) => wf.tensors.get(name)?.shape;

/** exact (bitwise) equality; vitest's deep toEqual is far too slow on million-element arrays */
function expectSame(a: Float32Array, b: Float32Array, what: string): void {
  expect(a.length, what).toBe(b.length);
  const eq = Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (!eq) {
    const i = a.findIndex((x, k) => !Object.is(x, b[k]));
    expect.fail(`${what}: differs at element ${i}: ${a[i]} vs ${b[i]}`);
  }
}

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

describe('fixture weight files', () => {
  let st: WeightFile;
  let hf: WeightFile;
  let vq: WeightFile;
  beforeAll(async () => {
    st = await openWeights(fixture('clip-openai', 'open_clip_model.safetensors'));
    hf = await openWeights(fixture('clip-hf', 'pytorch_model.bin'));
    vq = await openWeights(fixture('vqgan', 'model.ckpt'));
  });
  afterAll(() => { st?.close(); hf?.close(); vq?.close(); });

  it('reads the open_clip safetensors (OpenAI names)', () => {
    expect(st.format).toBe('safetensors');
    expect(st.tensors.size).toBe(62);
    expect(shapeOf(st, 'visual.conv1.weight')).toEqual([128, 3, 16, 16]);
    expect(shapeOf(st, 'token_embedding.weight')).toEqual([49408, 64]);
    expect(shapeOf(st, 'visual.proj')).toEqual([128, 32]);
    expect(shapeOf(st, 'logit_scale')).toEqual([]);
    expect(shapeOf(st, 'transformer.resblocks.1.attn.in_proj_weight')).toEqual([192, 64]);
    expect([...st.tensors.values()].every((t) => t.dtype === 'float32')).toBe(true);
    const w = st.float32('visual.conv1.weight');
    expect(w.length).toBe(128 * 3 * 16 * 16);
    expect(w.buffer.byteLength).toBe(w.byteLength); // a view on the bytes read, no second copy
    expect(st.float32('logit_scale').length).toBe(1);
  });

  it('reads the HF pytorch_model.bin (torch zip under pytorch_model/)', () => {
    expect(hf.format).toBe('torch-zip');
    expect(hf.tensors.size).toBe(80);
    expect(shapeOf(hf, 'vision_model.embeddings.patch_embedding.weight')).toEqual([128, 3, 16, 16]);
    expect(shapeOf(hf, 'text_model.embeddings.token_embedding.weight')).toEqual([49408, 64]);
    expect(shapeOf(hf, 'visual_projection.weight')).toEqual([32, 128]);
    expect(hf.tensors.get('text_model.embeddings.position_ids')).toEqual({ name: 'text_model.embeddings.position_ids', dtype: 'int64', shape: [1, 77] });
    expect([...hf.int64('text_model.embeddings.position_ids')]).toEqual(Array.from({ length: 77 }, (_, i) => BigInt(i)));
    expect([...hf.float32('vision_model.embeddings.position_ids')]).toEqual(Array.from({ length: 17 }, (_, i) => i));
  });

  it('the two CLIP files hold the same weights', () => {
    const same = (a: string, b: string) => expectSame(hf.float32(b), st.float32(a), `${b} vs ${a}`);
    same('visual.conv1.weight', 'vision_model.embeddings.patch_embedding.weight');
    same('token_embedding.weight', 'text_model.embeddings.token_embedding.weight');
    same('positional_embedding', 'text_model.embeddings.position_embedding.weight');
    same('visual.class_embedding', 'vision_model.embeddings.class_embedding');
    same('visual.ln_pre.bias', 'vision_model.pre_layrnorm.bias');
    same('logit_scale', 'logit_scale');
    // q/k/v share one storage in the HF file (storage offsets 0, 4096, 8192 elements)
    const inW = st.float32('transformer.resblocks.1.attn.in_proj_weight');
    const inB = st.float32('visual.transformer.resblocks.0.attn.in_proj_bias');
    ['q', 'k', 'v'].forEach((p, i) => {
      expectSame(hf.float32(`text_model.encoder.layers.1.self_attn.${p}_proj.weight`), inW.subarray(i * 64 * 64, (i + 1) * 64 * 64), `${p}_proj.weight`);
      expectSame(hf.float32(`vision_model.encoder.layers.0.self_attn.${p}_proj.bias`), inB.subarray(i * 128, (i + 1) * 128), `${p}_proj.bias`);
    });
    expectSame(hf.float32('visual_projection.weight'), transpose(st.float32('visual.proj'), 128, 32), 'visual_projection');
    expectSame(hf.float32('text_projection.weight'), transpose(st.float32('text_projection'), 64, 32), 'text_projection');
  });

  it('reads the Lightning VQGAN checkpoint: state_dict with loss.* keys, callbacks, optimizer state', () => {
    expect(vq.format).toBe('torch-zip');
    expect(vq.tensors.size).toBe(186);
    expect(shapeOf(vq, 'quantize.embedding.weight')).toEqual([128, 16]);
    expect(shapeOf(vq, 'encoder.conv_in.weight')).toEqual([32, 3, 3, 3]);
    expect(shapeOf(vq, 'post_quant_conv.weight')).toEqual([16, 16, 1, 1]);
    expect(shapeOf(vq, 'decoder.conv_out.weight')).toEqual([3, 32, 3, 3]);
    for (const k of ['loss.logvar', 'loss.discriminator.main.0.weight', 'loss.perceptual_loss.net.slice1.0.weight']) {
      expect(vq.tensors.has(k), k).toBe(true);
    }
    const names = [...vq.tensors.keys()];
    expect(names.filter((n) => n.startsWith('encoder.')).length).toBeGreaterThan(10);
    expect(names.filter((n) => n.startsWith('decoder.')).length).toBeGreaterThan(10);
    const emb = vq.float32('quantize.embedding.weight');
    expect(emb.length).toBe(128 * 16);
    expect(emb.every(Number.isFinite)).toBe(true);

    const meta = vq.meta as Map<string, unknown>;
    expect(meta).toBeInstanceOf(Map);
    expect(meta.get('epoch')).toBe(3);
    expect(meta.get('global_step')).toBe(1234);
    expect(meta.get('pytorch-lightning_version')).toBe('1.0.8');
    const callbacks = meta.get('callbacks') as Map<string, unknown>;
    expect([...callbacks.keys()]).toEqual(['pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint']);
    const cb = meta.get('callback_obj') as PickleObject;
    expect(cb).toBeInstanceOf(PickleObject);
    expect(cb.__class__).toBe('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint');
    expect((cb.state as Map<string, unknown>).get('monitor')).toBe('val/rec_loss');
    const opt = meta.get('optimizer_states') as Map<string, unknown>[];
    const group = (opt[0]!.get('param_groups') as Map<string, unknown>[])[0]!;
    expect(group.get('lr')).toBeCloseTo(4.5e-6, 12);
    expect(group.get('params')).toEqual([0, 1]);
  });

  it('listTensors gives the same names and shapes without reading data', async () => {
    for (const [f, wf] of [[fixture('clip-openai', 'open_clip_model.safetensors'), st], [fixture('clip-hf', 'pytorch_model.bin'), hf], [fixture('vqgan', 'model.ckpt'), vq]] as const) {
      expect(await listTensors(f)).toEqual(wf.tensors);
    }
  });
});
