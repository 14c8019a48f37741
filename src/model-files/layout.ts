/**
 * The model folder layout under MODELS_DIR, where each default file comes from, and checkModels():
 *
 *   MODELS_DIR/
 *     clip-vit-b-32/              open_clip_model.safetensors, vocab.json, merges.txt, open_clip_config.json
 *     vqgan-imagenet-f16-16384/   last.ckpt, model.yaml
 *     manifest.json               written by `npm run models:pull`: url, size, sha256, date per file
 */
import { locateVqganFiles } from '../engine/models/vqgan.ts';
import fs from 'node:fs';
import path from 'node:path';
import { clipTensors, vqganTensors, type ExpectedTensor } from '../engine/models/expected.ts';

export const DEFAULT_CLIP_FOLDER = 'clip-vit-b-32';
export const DEFAULT_VQGAN_FOLDER = 'vqgan-imagenet-f16-16384';
export const MANIFEST_FILE = 'manifest.json';

export const DEFAULT_HF_BASE = 'https://huggingface.co';
export const DEFAULT_HEIBOX_BASE = 'https://heibox.uni-heidelberg.de';
export const HF_REPO = 'timm/vit_base_patch32_clip_224.openai';
export const HEIBOX_SHARE = 'a7530b09fed84f80a887';

export interface SourceBases {
  hf: string;
  heibox: string;
}

export const DEFAULT_BASES: SourceBases = { hf: DEFAULT_HF_BASE, heibox: DEFAULT_HEIBOX_BASE };

/** How a pulled file is checked once it is on disk. */
export type FileCheck =
  | { kind: 'tensors'; expected: ExpectedTensor[] }
  | { kind: 'json'; requiredKeys?: string[] }
  | { kind: 'text'; startsWith?: string; contains?: string[]; minBytes?: number }
  /** only the file's sha256 (ModelFile.sha256) vouches for it */
  | { kind: 'digest' };

export interface ModelFile {
  /** File name inside the model folder. */
  name: string;
  url: string;
  /** Exact size in bytes, when known; checked after download. */
  bytes?: number;
  /** Rough size for messages ("~605 MB"). */
  approxBytes?: number;
  /** Its sha256 (hex), when published: a file that does not match is rejected. */
  sha256?: string;
  check: FileCheck;
}

export interface ModelSpec {
  /** Short name for messages. */
  id: string;
  /** Folder under MODELS_DIR. */
  folder: string;
  /** Which config variable picks this folder. */
  variable: 'CLIP_MODEL' | 'VQGAN_MODEL' | 'WHISPER_MODEL';
  files: ModelFile[];
}

function trim(base: string): string {
  return base.replace(/\/+$/, '');
}

export function hfUrl(base: string, file: string): string {
  return `${trim(base)}/${HF_REPO}/resolve/main/${file}`;
}

export function heiboxUrl(base: string, p: string): string {
  return `${trim(base)}/d/${HEIBOX_SHARE}/files/?p=${encodeURIComponent(p)}&dl=1`;
}

/**
 * The default models and where each file comes from. Exact byte sizes of these files are not
 * published (model-spec.md §1.8.2, §2.7), so they are checked against Content-Length and by opening
 * them; approxBytes only feeds messages.
 */
export function defaultModelSpecs(bases: SourceBases = DEFAULT_BASES): ModelSpec[] {
  return [
    {
      id: 'CLIP ViT-B/32 (OpenAI weights, open_clip safetensors)',
      folder: DEFAULT_CLIP_FOLDER,
      variable: 'CLIP_MODEL',
      files: [
        { name: 'open_clip_model.safetensors', url: hfUrl(bases.hf, 'open_clip_model.safetensors'), approxBytes: 605_143_000, check: { kind: 'tensors', expected: clipTensors() } },
        { name: 'vocab.json', url: hfUrl(bases.hf, 'vocab.json'), approxBytes: 862_000, check: { kind: 'json', requiredKeys: ['<|endoftext|>', '<|startoftext|>'] } },
        { name: 'merges.txt', url: hfUrl(bases.hf, 'merges.txt'), approxBytes: 525_000, check: { kind: 'text', startsWith: '#version', minBytes: 100_000 } },
        { name: 'open_clip_config.json', url: hfUrl(bases.hf, 'open_clip_config.json'), approxBytes: 556, check: { kind: 'json', requiredKeys: ['model_cfg'] } },
      ],
    },
    {
      id: 'VQGAN imagenet_f16_16384 (taming-transformers)',
      folder: DEFAULT_VQGAN_FOLDER,
      variable: 'VQGAN_MODEL',
      files: [
        { name: 'last.ckpt', url: heiboxUrl(bases.heibox, '/ckpts/last.ckpt'), approxBytes: 980_000_000, check: { kind: 'tensors', expected: vqganTensors() } },
        { name: 'model.yaml', url: heiboxUrl(bases.heibox, '/configs/model.yaml'), approxBytes: 1_000, check: { kind: 'text', contains: ['ddconfig', 'n_embed'] } },
      ],
    },
  ];
}

/** Paths of the files the engine loads, for the folders the config picks. */
export interface ModelPaths {
  clip: { dir: string; weights: string; vocab: string; merges: string; config: string | undefined };
  vqgan: { dir: string; checkpoint: string; config: string };
}

const CLIP_WEIGHT_NAMES = ['open_clip_model.safetensors', 'model.safetensors', 'open_clip_pytorch_model.bin', 'pytorch_model.bin'];
const CLIP_CONFIG_NAMES = ['open_clip_config.json', 'config.json'];

function folderPath(modelsDir: string, folder: string): string {
  return path.isAbsolute(folder) ? folder : path.join(modelsDir, folder);
}

function firstExisting(dir: string, names: string[]): string | undefined {
  for (const n of names) if (isFile(path.join(dir, n))) return path.join(dir, n);
  return undefined;
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export interface ModelChoice {
  /** CLIP_MODEL: folder under modelsDir, or absolute. */
  clip?: string;
  /** VQGAN_MODEL: folder under modelsDir, or absolute. */
  vqgan?: string;
}

/**
 * Where the engine should read its weights. For a folder holding another model (HF `CLIPModel`
 * pytorch_model.bin, another VQGAN's .ckpt), the first file present is used; when none is present, the
 * default name is returned (and checkModels reports it).
 */
export function modelPaths(modelsDir: string, choice: ModelChoice = {}): ModelPaths {
  const clipDir = folderPath(modelsDir, choice.clip ?? DEFAULT_CLIP_FOLDER);
  const vqDir = folderPath(modelsDir, choice.vqgan ?? DEFAULT_VQGAN_FOLDER);
  const vqFiles = locateVqganFiles(vqDir);
  return {
    clip: {
      dir: clipDir,
      weights: firstExisting(clipDir, CLIP_WEIGHT_NAMES) ?? path.join(clipDir, CLIP_WEIGHT_NAMES[0]!),
      vocab: path.join(clipDir, 'vocab.json'),
      merges: path.join(clipDir, 'merges.txt'),
      config: firstExisting(clipDir, CLIP_CONFIG_NAMES),
    },
    vqgan: {
      dir: vqDir,
      // the engine's own rule, so the start-up check and the engine agree on which files they mean
      checkpoint: vqFiles.ckpt ?? path.join(vqDir, 'last.ckpt'),
      config: vqFiles.yaml ?? path.join(vqDir, 'model.yaml'),
    },
  };
}

export interface ModelProblem {
  /** The file (or folder) at fault, absolute. */
  path: string;
  /** Which variable picks the folder it is in. */
  variable: 'MODELS_DIR' | 'CLIP_MODEL' | 'VQGAN_MODEL';
  /** One line: what is wrong. */
  message: string;
}

/**
 * Cheap start-up check (no file is opened): every file the engine needs is there and not empty.
 * Returns one problem per missing file; [] when all is well. Contents are checked by models:pull.
 */
export function checkModels(modelsDir: string, choice: ModelChoice = {}): ModelProblem[] {
  const problems: ModelProblem[] = [];
  const p = modelPaths(modelsDir, choice);
  const need = (file: string, variable: ModelProblem['variable'], what: string) => {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(file);
    } catch {
      st = undefined;
    }
    if (!st || !st.isFile()) {
      const partial = isFile(`${file}.part`) ? ' (a partial download is there: run `npm run models:pull` to finish it)' : '';
      problems.push({ path: file, variable, message: `missing ${what}: ${file}${partial}` });
    } else if (st.size === 0) {
      problems.push({ path: file, variable, message: `empty ${what}: ${file}` });
    }
  };
  need(p.clip.weights, 'CLIP_MODEL', 'CLIP weights');
  need(p.clip.vocab, 'CLIP_MODEL', 'CLIP tokenizer vocabulary');
  need(p.clip.merges, 'CLIP_MODEL', 'CLIP tokenizer merges');
  need(p.vqgan.checkpoint, 'VQGAN_MODEL', 'VQGAN checkpoint');
  need(p.vqgan.config, 'VQGAN_MODEL', 'VQGAN config');
  return problems;
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Lines telling where to fetch each file by hand and the exact path to put it at. */
export function manualPlacementLines(specs: ModelSpec[], modelsDir: string, only?: (spec: ModelSpec, file: ModelFile) => boolean): string[] {
  const lines: string[] = [];
  for (const spec of specs) {
    for (const f of spec.files) {
      if (only && !only(spec, f)) continue;
      const size = f.bytes ?? f.approxBytes;
      lines.push(`  ${f.url}`, `    -> ${path.join(modelsDir, spec.folder, f.name)}${size ? `  (~${formatBytes(size)})` : ''}`);
    }
  }
  return lines;
}
