import type { WeightDType } from './dtype.ts';

export type { WeightDType } from './dtype.ts';

export interface TensorInfo {
  name: string;
  dtype: WeightDType;
  shape: number[];
}

export interface OpenWeightsOptions {
  /**
   * torch checkpoints: top-level dict key holding the state dict. Default: auto — `state_dict`
   * (Lightning), then `model_state_dict`, `model`, `module`, then the top-level dict itself (HF).
   */
  stateDictKey?: string;
}

export interface WeightFile {
  path: string;
  format: 'safetensors' | 'torch-zip' | 'torch-legacy';
  /** tensor name → info, in file order (safetensors header order / state_dict order) */
  tensors: Map<string, TensorInfo>;
  /**
   * float32, contiguous C order. f16/bf16/f64/int tensors are converted (new array); non-contiguous
   * torch tensors are gathered (new array). A contiguous float32 tensor is a view on the bytes just
   * read from disk for it (one positional read, no further copy). Each call reads the file again and
   * returns fresh memory that the caller owns; nothing is cached by the WeightFile.
   */
  float32(name: string): Float32Array;
  /** int64/int32/int8/uint8/bool tensors as BigInt64Array (a view for int64, otherwise converted). */
  int64(name: string): BigInt64Array;
  /** the tensor's raw little-endian bytes in its own dtype, contiguous C order. */
  raw(name: string): Uint8Array;
  /**
   * torch-zip / torch-legacy: the unpickled top-level object (see pickle.ts for the value mapping: dicts are Map,
   * tensors are TorchTensor, unknown classes PickleObject). safetensors: the `__metadata__` object
   * (string → string) or undefined.
   */
  meta?: unknown;
  close(): void;
}
