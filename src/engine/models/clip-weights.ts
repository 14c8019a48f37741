import fs from 'node:fs';
import path from 'node:path';
import { openWeights, type WeightFile } from '../weights/index.ts';
import { ParamStore, type ParamArray } from './params.ts';

/**
 * Reads CLIP weights in OpenAI/open_clip naming or Hugging Face CLIPModel naming into one canonical
 * naming: OpenAI's, with each attention's packed in_proj split into q, k and v (views, not copies).
 */
export function canonicalClipParams(w: WeightFile, reload?: () => Promise<ParamStore> | ParamStore): ParamStore {
  const out = new Map<string, ParamArray>();
  const get = (name: string): ParamArray => ({ data: w.float32(name), shape: [...w.tensors.get(name)!.shape] });
  const names = [...w.tensors.keys()];
  const isHf = names.some((n) => n.startsWith('vision_model.') || n.startsWith('text_model.'));
  if (isHf) {
    for (const n of names) {
      const target = hfToCanonical(n);
      if (!target) continue;
      const a = get(n);
      out.set(target, target === 'visual.proj' || target === 'text_projection' ? transpose2d(a) : a);
    }
  } else {
    for (const n of names) {
      if (n.endsWith('attn.in_proj_weight') || n.endsWith('attn.in_proj_bias')) {
        const a = get(n);
        const base = n.replace(/in_proj_(weight|bias)$/, '');
        const kind = n.endsWith('weight') ? 'weight' : 'bias';
        const rows = a.shape[0]! / 3;
        const cols = kind === 'weight' ? a.shape[1]! : 1;
        ['q', 'k', 'v'].forEach((p, i) => {
          out.set(`${base}${p}.${kind}`, {
            data: a.data.subarray(i * rows * cols, (i + 1) * rows * cols),
            shape: kind === 'weight' ? [rows, cols] : [rows],
          });
        });
      } else if (n.includes('attn.out_proj.')) {
        out.set(n.replace('attn.out_proj.', 'attn.out.'), get(n));
      } else if (!n.startsWith('attn_mask') && n !== 'input_resolution' && n !== 'context_length' && n !== 'vocab_size') {
        out.set(n, get(n));
      }
    }
  }
  return new ParamStore(out, w.path, reload && reloadArrays(reload));
}

/**
 * Made outside canonicalClipParams: a closure there would share the scope that `get` keeps the weight
 * file in, and so keep every array of the file alive after ParamStore.release().
 */
function reloadArrays(reload: () => Promise<ParamStore> | ParamStore): () => Promise<Map<string, ParamArray>> {
  return async () => (await reload()).arraysForReload();
}

function transpose2d(a: ParamArray): ParamArray {
  const [r, c] = a.shape as [number, number];
  const t = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = a.data[i * c + j]!;
  return { data: t, shape: [c, r] };
}

function hfToCanonical(n: string): string | null {
  const simple: Record<string, string> = {
    'text_model.embeddings.token_embedding.weight': 'token_embedding.weight',
    'text_model.embeddings.position_embedding.weight': 'positional_embedding',
    'text_model.final_layer_norm.weight': 'ln_final.weight',
    'text_model.final_layer_norm.bias': 'ln_final.bias',
    'text_projection.weight': 'text_projection',
    'vision_model.embeddings.class_embedding': 'visual.class_embedding',
    'vision_model.embeddings.patch_embedding.weight': 'visual.conv1.weight',
    'vision_model.embeddings.position_embedding.weight': 'visual.positional_embedding',
    'vision_model.pre_layrnorm.weight': 'visual.ln_pre.weight',
    'vision_model.pre_layrnorm.bias': 'visual.ln_pre.bias',
    'vision_model.post_layernorm.weight': 'visual.ln_post.weight',
    'vision_model.post_layernorm.bias': 'visual.ln_post.bias',
    'visual_projection.weight': 'visual.proj',
    logit_scale: 'logit_scale',
  };
  if (simple[n]) return simple[n]!;
  const m = /^(text|vision)_model\.encoder\.layers\.(\d+)\.(.+)$/.exec(n);
  if (!m) return null;
  const prefix = m[1] === 'text' ? `transformer.resblocks.${m[2]}.` : `visual.transformer.resblocks.${m[2]}.`;
  const rest = m[3]!
    .replace(/^self_attn\.(q|k|v)_proj\./, 'attn.$1.')
    .replace(/^self_attn\.out_proj\./, 'attn.out.')
    .replace(/^layer_norm1\./, 'ln_1.')
    .replace(/^layer_norm2\./, 'ln_2.')
    .replace(/^mlp\.fc1\./, 'mlp.c_fc.')
    .replace(/^mlp\.fc2\./, 'mlp.c_proj.');
  return prefix + rest;
}

export interface ClipFiles {
  weights: string;
  config?: string;
  dir: string;
}

const WEIGHT_NAMES = ['open_clip_model.safetensors', 'model.safetensors', 'open_clip_pytorch_model.bin', 'pytorch_model.bin'];

/** Finds the weight and config files of a CLIP model folder. */
export function findClipFiles(dir: string): ClipFiles {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`CLIP model folder not found: ${dir}`);
  const weights = WEIGHT_NAMES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  if (!weights) throw new Error(`no CLIP weights in ${dir}: expected one of ${WEIGHT_NAMES.join(', ')}`);
  const config = ['open_clip_config.json', 'config.json'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
  return { weights, dir, ...(config ? { config } : {}) };
}

export async function readClipParams(files: ClipFiles): Promise<ParamStore> {
  const w = await openWeights(files.weights);
  try {
    return canonicalClipParams(w, () => readClipParams(files));
  } finally {
    w.close();
  }
}
