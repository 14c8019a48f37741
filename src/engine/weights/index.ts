/**
 * Weight file readers: safetensors, torch.save zip archives (HF pytorch_model.bin, Lightning .ckpt)
 * and legacy (non-zip) torch.save files, detected by content. See types.ts for the WeightFile contract.
 */
import { assertLittleEndianHost } from './dtype.ts';
import { openSafetensors } from './safetensors.ts';
import { FileSource } from './source.ts';
import { openTorchZip } from './torch.ts';
import { LEGACY_HEAD, openTorchLegacy } from './torch-legacy.ts';
import type { OpenWeightsOptions, TensorInfo, WeightFile } from './types.ts';

export type { OpenWeightsOptions, TensorInfo, WeightDType, WeightFile } from './types.ts';
export { TorchStorage, TorchTensor } from './torch.ts';
export { PickleGlobal, PickleObject, unpickle } from './pickle.ts';

export type WeightFormat = 'safetensors' | 'torch-zip' | 'torch-legacy';

export const TAR_TORCH_MESSAGE =
  'the tar-based torch.save format (torch < 0.4) is not supported: re-save with torch>=1.6 ' +
  '(python -c "import torch; torch.save(torch.load(\'in.ckpt\', map_location=\'cpu\'), \'out.ckpt\')") or convert to safetensors';

/** Decide the format from the first bytes; throws a clear error for unknown files. */
export function detectFormat(src: FileSource): WeightFormat {
  const head = src.read(0, Math.min(src.size, 512), 'file header');
  const fail = (msg: string): never => { throw new Error(`${src.path}: ${msg}`); };
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6)) {
    return 'torch-zip';
  }
  if (head.length >= LEGACY_HEAD.length && LEGACY_HEAD.every((b, i) => head[i] === b)) return 'torch-legacy';
  // safetensors before other pickle-like starts: a header length of 0x0280 also begins 80 02
  if (head.length >= 9 && head[8] === 0x7b /* '{' */) return 'safetensors';
  // a pickle (PROTO 2..5) first, as a legacy file written with another protocol; openTorchLegacy checks the magic number
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'torch-legacy';
  if (head.length >= 262 && new TextDecoder().decode(head.subarray(257, 262)) === 'ustar') fail(TAR_TORCH_MESSAGE);
  if (head.length === 0) fail('file is empty');
  return fail(`unrecognised weight format (first bytes ${[...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}; expected safetensors or a torch.save file)`);
}

/**
 * Open a weight file. Only the index (safetensors header / zip directory + data.pkl / legacy pickles) is read here;
 * tensor data is read on demand by float32()/int64()/raw(). Call close() to release the descriptor.
 */
export async function openWeights(path: string, opts: OpenWeightsOptions = {}): Promise<WeightFile> {
  assertLittleEndianHost();
  const src = new FileSource(path);
  try {
    const format = detectFormat(src);
    if (format === 'safetensors') return openSafetensors(src);
    return format === 'torch-zip' ? openTorchZip(src, opts) : openTorchLegacy(src, opts);
  } catch (e) {
    src.close();
    throw e;
  }
}

/** Names, dtypes and shapes only (reads the header / zip directory / pickles, no tensor data). */
export async function listTensors(path: string, opts: OpenWeightsOptions = {}): Promise<Map<string, TensorInfo>> {
  const wf = await openWeights(path, opts);
  wf.close();
  return wf.tensors;
}
