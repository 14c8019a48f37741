/**
 * torch.save's legacy (non-zip) format: what torch < 1.6 wrote, and `_use_new_zipfile_serialization=False`
 * still writes (the 2019 BigGAN-deep release files). The file is five pickles back to back, then raw data:
 *
 *   magic number (0x1950a86a20f9469cfc6c) · protocol version (1001) · sys_info {little_endian, type_sizes…}
 *   · the object, whose storages are persistent ids ('storage', Type, root_key, location, numel, view?)
 *   · the sorted list of root keys · per key: int64 numel, then numel × element size bytes.
 *
 * The pickles go through the safe VM of pickle.ts with an allow-list of globals (torch's, OrderedDict,
 * _codecs.encode): a legacy state dict needs nothing else, and anything else is refused, not stubbed.
 * Tensor data is read lazily with positional reads, like the zip reader.
 */
import { DTYPE_SIZE, bytesToFloat32, bytesToInt64, numelOf, type WeightDType } from './dtype.ts';
import { PickleGlobal, PickleTruncatedError, unpickleAt, type UnpickleOptions } from './pickle.ts';
import type { FileSource } from './source.ts';
import {
  STORAGE_DTYPES, TorchStorage, gatherStrided, isContiguous, makeReducers, selectStateDict, spanOf, type TorchTensor,
} from './torch.ts';
import type { OpenWeightsOptions, TensorInfo, WeightFile } from './types.ts';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
export const LEGACY_PROTOCOL_VERSION = 1001;
/** what a protocol-2 pickle of the magic number starts with (PROTO 2, LONG1 of 10 bytes, little-endian) */
export const LEGACY_HEAD = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);

/** Storage types the reader cannot convert but must still step over in the data section. */
const OTHER_STORAGE_SIZES: Record<string, number> = {
  ShortStorage: 2, ComplexHalfStorage: 4, ComplexFloatStorage: 8, ComplexDoubleStorage: 16,
  QInt8Storage: 1, QUInt8Storage: 1, QInt32Storage: 4, QUInt4x2Storage: 1, QUInt2x4Storage: 1,
};

const allowGlobal = (module: string, name: string): boolean =>
  module === 'torch' || module.startsWith('torch.') || (module === 'collections' && name === 'OrderedDict') ||
  (module === '_codecs' && name === 'encode');

const FIRST_READ = 1 << 20;

interface Parsed {
  top: unknown;
  /** root key → root storage (views point into these) */
  roots: Map<string, TorchStorage>;
  keys: string[];
  /** file offset of the first storage record */
  dataStart: number;
}

/** Parse the five pickles from `buf` (the file's first bytes). Throws PickleTruncatedError when `buf` ends too soon. */
function parsePickles(buf: Uint8Array, path: string): Parsed {
  const label = `${path}: legacy torch.save`;
  const base: UnpickleOptions = { allowGlobal, label };
  const magic = unpickleAt(buf, 0, base);
  if (magic.value !== LEGACY_MAGIC) throw new Error(`${path}: not a torch.save file (the first pickle is not torch's magic number)`);
  const proto = unpickleAt(buf, magic.end, base);
  if (proto.value !== LEGACY_PROTOCOL_VERSION) {
    throw new Error(`${path}: legacy torch.save protocol version ${String(proto.value)} is not supported (expected ${LEGACY_PROTOCOL_VERSION})`);
  }
  const sys = unpickleAt(buf, proto.end, base);
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) {
    throw new Error(`${path}: the file was written on a big-endian machine; only little-endian legacy torch.save files are supported`);
  }
  const roots = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): unknown => {
    if (!Array.isArray(pid)) throw new Error(`unsupported persistent id ${String(pid)}`);
    if (pid[0] === 'module') return pid[1] ?? null; // a saved module's class (its source is not checked)
    if (pid[0] !== 'storage' || pid.length < 5) throw new Error(`unsupported persistent id of type ${String(pid[0])}`);
    const [, type, rootKey, location, numel, view] = pid;
    const typeName = type instanceof PickleGlobal ? type.name : String(type);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw new Error(`bad storage size ${String(numel)}`);
    const key = String(rootKey);
    let root = roots.get(key);
    if (!root) roots.set(key, (root = new TorchStorage(key, typeName, STORAGE_DTYPES[typeName], numel, String(location))));
    if (view === undefined || view === null) return root;
    if (!Array.isArray(view) || view.length !== 3) throw new Error('bad storage view metadata');
    const [, offset, size] = view as unknown[];
    if (typeof offset !== 'number' || typeof size !== 'number' || offset < 0 || size < 0 || offset + size > numel) {
      throw new Error(`storage view [${String(offset)}, +${String(size)}) lies outside its root storage of ${numel} elements`);
    }
    return new TorchStorage(key, typeName, root.dtype, size, root.location, offset);
  };
  const obj = unpickleAt(buf, sys.end, { ...base, reducers: makeReducers(), persistentLoad });
  const keyList = unpickleAt(buf, obj.end, base);
  if (!Array.isArray(keyList.value) || !keyList.value.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new Error(`${path}: the storage key list after the object is missing or malformed`);
  }
  return { top: obj.value, roots, keys: keyList.value.map(String), dataStart: keyList.end };
}

/** Read and parse the pickles, reading more of the file until they are complete. */
function readPickles(src: FileSource): Parsed {
  for (let n = Math.min(src.size, FIRST_READ); ; n = Math.min(src.size, n * 4)) {
    const buf = src.read(0, n, 'legacy torch.save header');
    try {
      return parsePickles(buf, src.path);
    } catch (e) {
      if (!(e instanceof PickleTruncatedError) || n >= src.size) {
        const msg = (e as Error).message;
        throw new Error(msg.startsWith(src.path) ? msg : `${src.path}: ${msg}`);
      }
    }
  }
}

export function openTorchLegacy(src: FileSource, opts: OpenWeightsOptions = {}): WeightFile {
  const path = src.path;
  const { top, roots, keys, dataStart } = readPickles(src);

  // walk the data section: per root storage an int64 element count, then its bytes
  const dataAt = new Map<string, number>();
  let pos = dataStart;
  for (const key of keys) {
    const root = roots.get(key);
    if (!root) throw new Error(`${path}: storage '${key}' is listed but no tensor refers to it`);
    const es = root.dtype ? DTYPE_SIZE[root.dtype] : OTHER_STORAGE_SIZES[root.typeName];
    if (es === undefined) throw new Error(`${path}: storage '${key}' has unknown type ${root.typeName}`);
    const head = src.read(pos, 8, `the size of storage '${key}'`);
    const numel = new DataView(head.buffer).getBigInt64(0, true);
    if (numel !== BigInt(root.numel)) {
      throw new Error(`${path}: storage '${key}' records ${numel} elements but its tensors expect ${root.numel} (corrupt file?)`);
    }
    dataAt.set(key, pos + 8);
    pos += 8 + root.numel * es;
    if (pos > src.size) {
      throw new Error(`${path}: storage '${key}' runs past the end of the file (needs ${pos} bytes, file is ${src.size}; truncated?)`);
    }
  }

  const sd = selectStateDict(top, opts, path);
  const tensors = new Map<string, TensorInfo>();
  for (const [name, t] of sd) {
    const st = t.storage;
    if (!t.dtype) throw new Error(`${path}: tensor '${name}' uses unsupported storage type ${st.typeName}`);
    if (!dataAt.has(st.key)) throw new Error(`${path}: tensor '${name}' refers to storage '${st.key}', which is not in the file`);
    const span = spanOf(t.shape, t.stride);
    if (span > 0 && st.elementOffset + t.offset + span > roots.get(st.key)!.numel) {
      throw new Error(`${path}: tensor '${name}' reaches past the end of storage '${st.key}' (corrupt file?)`);
    }
    tensors.set(name, { name, dtype: t.dtype, shape: [...t.shape] });
  }

  const tensorOf = (name: string): TorchTensor & { dtype: WeightDType } => {
    const t = sd.get(name);
    if (!t || !tensors.has(name)) throw new Error(`${path}: no tensor named '${name}'`);
    return t as TorchTensor & { dtype: WeightDType };
  };
  const raw = (name: string): Uint8Array => {
    const t = tensorOf(name);
    const es = DTYPE_SIZE[t.dtype];
    const n = numelOf(t.shape);
    if (n === 0) return new Uint8Array(0);
    const at = dataAt.get(t.storage.key)! + (t.storage.elementOffset + t.offset) * es;
    const what = `tensor '${name}'`;
    if (isContiguous(t.shape, t.stride)) return src.read(at, n * es, what);
    return gatherStrided(src.read(at, spanOf(t.shape, t.stride) * es, what), es, t.shape, t.stride);
  };
  return {
    path,
    format: 'torch-legacy',
    tensors,
    meta: top,
    raw,
    float32: (name) => bytesToFloat32(tensorOf(name).dtype, raw(name)),
    int64: (name) => bytesToInt64(tensorOf(name).dtype, raw(name), `${path}: tensor '${name}'`),
    close: () => src.close(),
  };
}
