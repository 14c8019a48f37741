/**
 * The official Whisper checkpoints: torch.save({"dims": {...}, "model_state_dict": {...}}) zip files
 * with float16 tensors (tiny, base, small, ...), read with the safe torch reader into float32.
 */
import { ParamStore, type ParamArray } from '../models/params.ts';
import { openWeights } from '../weights/index.ts';

export interface WhisperDims {
  nMels: number;
  nAudioCtx: number;
  nAudioState: number;
  nAudioHead: number;
  nAudioLayer: number;
  nVocab: number;
  nTextCtx: number;
  nTextState: number;
  nTextHead: number;
  nTextLayer: number;
}

const DIM_KEYS: Record<keyof WhisperDims, string> = {
  nMels: 'n_mels',
  nAudioCtx: 'n_audio_ctx',
  nAudioState: 'n_audio_state',
  nAudioHead: 'n_audio_head',
  nAudioLayer: 'n_audio_layer',
  nVocab: 'n_vocab',
  nTextCtx: 'n_text_ctx',
  nTextState: 'n_text_state',
  nTextHead: 'n_text_head',
  nTextLayer: 'n_text_layer',
};

export class WhisperCheckpointError extends Error {
  override name = 'WhisperCheckpointError';
}

export interface WhisperCheckpoint {
  dims: WhisperDims;
  params: ParamStore;
}

/** The dims dict of the checkpoint (a pickled dict: a Map after unpickling, or a plain object). */
export function parseDims(raw: unknown, source: string): WhisperDims {
  const get = (k: string): unknown => (raw instanceof Map ? raw.get(k) : raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[k] : undefined);
  if (!(raw instanceof Map) && (raw === null || typeof raw !== 'object')) {
    throw new WhisperCheckpointError(`${source}: no "dims" dict: not an official Whisper checkpoint ({"dims", "model_state_dict"})`);
  }
  const dims = {} as WhisperDims;
  for (const [field, key] of Object.entries(DIM_KEYS) as [keyof WhisperDims, string][]) {
    const v = get(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new WhisperCheckpointError(`${source}: dims.${key} is ${v === undefined ? 'missing' : String(v)}, expected a positive integer`);
    }
    dims[field] = v;
  }
  if (dims.nAudioState % dims.nAudioHead || dims.nTextState % dims.nTextHead) {
    throw new WhisperCheckpointError(`${source}: widths ${dims.nAudioState}/${dims.nTextState} do not split into ${dims.nAudioHead}/${dims.nTextHead} heads`);
  }
  return dims;
}

/** Every tensor the model reads, with its shape (conv weights as stored, [out, in, 3]). */
export function expectedWhisperTensors(d: WhisperDims): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const block = (prefix: string, n: number, cross: boolean) => {
    const attn = (a: string) => {
      m.set(`${prefix}${a}.query.weight`, [n, n]);
      m.set(`${prefix}${a}.query.bias`, [n]);
      m.set(`${prefix}${a}.key.weight`, [n, n]);
      m.set(`${prefix}${a}.value.weight`, [n, n]);
      m.set(`${prefix}${a}.value.bias`, [n]);
      m.set(`${prefix}${a}.out.weight`, [n, n]);
      m.set(`${prefix}${a}.out.bias`, [n]);
      m.set(`${prefix}${a}_ln.weight`, [n]);
      m.set(`${prefix}${a}_ln.bias`, [n]);
    };
    attn('attn');
    if (cross) attn('cross_attn');
    m.set(`${prefix}mlp.0.weight`, [4 * n, n]);
    m.set(`${prefix}mlp.0.bias`, [4 * n]);
    m.set(`${prefix}mlp.2.weight`, [n, 4 * n]);
    m.set(`${prefix}mlp.2.bias`, [n]);
    m.set(`${prefix}mlp_ln.weight`, [n]);
    m.set(`${prefix}mlp_ln.bias`, [n]);
  };
  const a = d.nAudioState;
  m.set('encoder.positional_embedding', [d.nAudioCtx, a]);
  m.set('encoder.conv1.weight', [a, d.nMels, 3]);
  m.set('encoder.conv1.bias', [a]);
  m.set('encoder.conv2.weight', [a, a, 3]);
  m.set('encoder.conv2.bias', [a]);
  for (let i = 0; i < d.nAudioLayer; i++) block(`encoder.blocks.${i}.`, a, false);
  m.set('encoder.ln_post.weight', [a]);
  m.set('encoder.ln_post.bias', [a]);
  const t = d.nTextState;
  m.set('decoder.positional_embedding', [d.nTextCtx, t]);
  m.set('decoder.token_embedding.weight', [d.nVocab, t]);
  for (let i = 0; i < d.nTextLayer; i++) block(`decoder.blocks.${i}.`, t, true);
  m.set('decoder.ln.weight', [t]);
  m.set('decoder.ln.bias', [t]);
  return m;
}

/**
 * Reads dims and weights (float32) of an official checkpoint. Conv weights become [out, in, 1, 3] so
 * that the 1-D convolutions run as 2-D ones. Tensors the model does not use are ignored.
 */
export async function loadWhisperCheckpoint(file: string): Promise<WhisperCheckpoint> {
  const w = await openWeights(file, { stateDictKey: 'model_state_dict' });
  try {
    const meta = w.meta;
    const dimsRaw = meta instanceof Map ? meta.get('dims') : undefined;
    if (!(meta instanceof Map) || !meta.has('model_state_dict')) {
      throw new WhisperCheckpointError(`${file}: not an official Whisper checkpoint (expected a dict with "dims" and "model_state_dict")`);
    }
    const dims = parseDims(dimsRaw, file);
    const arrays = new Map<string, ParamArray>();
    for (const [name, shape] of expectedWhisperTensors(dims)) {
      const info = w.tensors.get(name);
      if (!info) throw new WhisperCheckpointError(`${file}: missing tensor "${name}" (dims say ${JSON.stringify(dims)})`);
      if (info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
        throw new WhisperCheckpointError(`${file}: tensor "${name}" has shape [${info.shape.join(',')}], expected [${shape.join(',')}] from the dims`);
      }
      const data = w.float32(name);
      arrays.set(name, { data, shape: name.endsWith('conv1.weight') || name.endsWith('conv2.weight') ? [shape[0]!, shape[1]!, 1, 3] : shape });
    }
    return { dims, params: new ParamStore(arrays, file) };
  } finally {
    w.close();
  }
}
