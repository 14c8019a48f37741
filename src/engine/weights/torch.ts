/**
 * torch.save zip reader (torch >= 1.6 format; Lightning checkpoints, HF pytorch_model.bin).
 * The archive directory is the first entry's prefix; `<dir>/data.pkl` is unpickled with the safe VM
 * in pickle.ts and tensors are read lazily from `<dir>/data/<key>` with positional reads.
 */
import { DTYPE_SIZE, bytesToFloat32, bytesToInt64, numelOf, type WeightDType } from './dtype.ts';
import { PickleGlobal, PickleObject, unpickle, type Reducer } from './pickle.ts';
import type { FileSource } from './source.ts';
import type { OpenWeightsOptions, TensorInfo, WeightFile } from './types.ts';
import { entryDataOffset, readEntry, readEntryRange, readZipDirectory, type ZipEntry } from './zip.ts';

export const STORAGE_DTYPES: Record<string, WeightDType> = {
  FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16', DoubleStorage: 'float64',
  LongStorage: 'int64', IntStorage: 'int32', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
  UntypedStorage: 'uint8',
};
const TORCH_DTYPES: Record<string, WeightDType> = {
  float32: 'float32', float: 'float32', float16: 'float16', half: 'float16', bfloat16: 'bfloat16', float64: 'float64',
  double: 'float64', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

/** A storage reference from a persistent id ('storage', type, key, location, numel). */
export class TorchStorage {
  constructor(
    readonly key: string,
    /** storage class name, e.g. 'FloatStorage' */
    readonly typeName: string,
    /** undefined when the storage type is not supported (e.g. ShortStorage, ComplexFloatStorage) */
    readonly dtype: WeightDType | undefined,
    readonly numel: number,
    readonly location: string,
    /** legacy format: a view's first element within its root storage `key` */
    readonly elementOffset = 0,
  ) {}
}

/** A tensor reference from `_rebuild_tensor_v2` & co. Offsets and strides are in elements. */
export class TorchTensor {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly dtype: WeightDType | undefined,
    readonly requiresGrad: boolean,
  ) {}
}

const toInts = (v: unknown, what: string): number[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
    throw new Error(`bad tensor ${what}: ${String(v)}`);
  }
  return v as number[];
};

function rebuildTensor(args: unknown[], dtypeArg?: unknown): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) throw new Error('tensor rebuilt from something that is not a storage');
  if (typeof offset !== 'number') throw new Error('bad tensor storage offset');
  const shape = toInts(size, 'size');
  const strides = toInts(stride, 'stride');
  if (strides.length !== shape.length) throw new Error(`tensor size [${shape}] and stride [${strides}] differ in rank`);
  let dtype = storage.dtype;
  if (dtypeArg instanceof PickleGlobal && dtypeArg.module === 'torch') dtype = TORCH_DTYPES[dtypeArg.name];
  return new TorchTensor(storage, offset, [...shape], [...strides], dtype, requiresGrad === true);
}

export function makeReducers(): Record<string, Reducer> {
  const r: Record<string, Reducer> = {
    'torch._utils._rebuild_tensor': (a) => rebuildTensor(a),
    'torch._utils._rebuild_tensor_v2': (a) => rebuildTensor(a),
    'torch._utils._rebuild_tensor_v3': (a) => rebuildTensor(a, a[6]),
    'torch._utils._rebuild_parameter': (a) => a[0],
    'torch._utils._rebuild_parameter_with_state': (a) => a[0],
    'torch.nn.parameter.Parameter': (a) => a[0],
    'torch.Size': (a) => a[0],
    'collections.OrderedDict': (a) => {
      const m = new Map<unknown, unknown>();
      if (Array.isArray(a[0])) for (const kv of a[0]) if (Array.isArray(kv)) m.set(kv[0], kv[1]);
      return m;
    },
    '_codecs.encode': (a) => {
      const s = String(a[0]);
      const enc = String(a[1] ?? 'utf-8').toLowerCase();
      if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
      return new TextEncoder().encode(s);
    },
  };
  // torch._tensor._rebuild_from_type_v2(func, new_type, args, state): apply func(*args)
  r['torch._tensor._rebuild_from_type_v2'] = (a) => {
    const f = a[0];
    const inner = f instanceof PickleGlobal ? r[f.fullName] : undefined;
    return inner && Array.isArray(a[2]) ? inner(a[2]) : new PickleObject('torch._tensor._rebuild_from_type_v2', a);
  };
  return r;
}

function persistentLoad(pid: unknown): TorchStorage {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    throw new Error(`unsupported persistent id ${JSON.stringify(pid, (_k, v) => (v instanceof PickleGlobal ? v.fullName : v))}`);
  }
  const [, type, key, location, numel] = pid;
  const typeName = type instanceof PickleGlobal ? type.name : String(type);
  return new TorchStorage(String(key), typeName, STORAGE_DTYPES[typeName], Number(numel), String(location));
}

const hasTensor = (m: unknown): m is Map<unknown, unknown> => {
  if (!(m instanceof Map)) return false;
  for (const v of m.values()) if (v instanceof TorchTensor) return true;
  return false;
};

/** Pick the state dict out of the unpickled top-level object. Returns name → tensor. */
export function selectStateDict(obj: unknown, opts: OpenWeightsOptions, label: string): Map<string, TorchTensor> {
  const keysOf = (m: Map<unknown, unknown>) => [...m.keys()].map(String).join(', ');
  let sd: Map<unknown, unknown> | undefined;
  if (opts.stateDictKey !== undefined) {
    if (!(obj instanceof Map)) throw new Error(`${label}: stateDictKey '${opts.stateDictKey}' given but the checkpoint's top level is not a dict`);
    const v = obj.get(opts.stateDictKey);
    if (!(v instanceof Map)) throw new Error(`${label}: no dict under key '${opts.stateDictKey}' (top-level keys: ${keysOf(obj)})`);
    sd = v;
  } else if (obj instanceof Map) {
    for (const k of ['state_dict', 'model_state_dict', 'model', 'module']) {
      if (hasTensor(obj.get(k))) { sd = obj.get(k) as Map<unknown, unknown>; break; }
    }
    if (!sd && hasTensor(obj)) sd = obj;
    if (!sd) throw new Error(`${label}: no state dict of tensors found (top-level keys: ${keysOf(obj)}); pass stateDictKey`);
  }
  const out = new Map<string, TorchTensor>();
  if (sd) {
    for (const [k, v] of sd) if (v instanceof TorchTensor) out.set(String(k), v);
    return out;
  }
  // Not a dict (e.g. a TorchScript module object): collect tensors by attribute path. Best effort.
  const seen = new Set<unknown>();
  const walk = (v: unknown, prefix: string, depth: number) => {
    if (depth > 64 || seen.has(v)) return;
    if (v instanceof TorchTensor) { out.set(prefix, v); return; }
    if (typeof v !== 'object' || v === null) return;
    seen.add(v);
    if (v instanceof PickleObject) walk(v.state, prefix, depth + 1);
    else if (v instanceof Map) for (const [k, x] of v) if (typeof k === 'string') walk(x, prefix ? `${prefix}.${k}` : k, depth + 1);
  };
  walk(obj, '', 0);
  if (out.size === 0) throw new Error(`${label}: the checkpoint holds no tensors that look like a state dict`);
  return out;
}

export function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Elements spanned from the first to the last element, inclusive (0 for an empty tensor). */
export function spanOf(shape: number[], stride: number[]): number {
  if (shape.some((d) => d === 0)) return 0;
  let s = 1;
  for (let i = 0; i < shape.length; i++) s += (shape[i]! - 1) * stride[i]!;
  return s;
}

/** Gather a strided tensor (src starts at its first element) into contiguous C-order bytes. */
export function gatherStrided(src: Uint8Array, es: number, shape: number[], stride: number[]): Uint8Array {
  const n = numelOf(shape);
  const out = new Uint8Array(n * es);
  if (n === 0) return out;
  const rank = shape.length;
  const last = rank - 1;
  const rowLen = shape[last]!;
  const rowStride = stride[last]!;
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  let base = 0; // element offset of the current row start
  const rows = n / rowLen;
  for (let r = 0; r < rows; r++) {
    if (rowStride === 1) {
      out.set(src.subarray(base * es, (base + rowLen) * es), o);
      o += rowLen * es;
    } else {
      for (let j = 0, p = base * es; j < rowLen; j++, p += rowStride * es) {
        for (let b = 0; b < es; b++) out[o++] = src[p + b]!;
      }
    }
    // advance the odometer over all but the last dimension
    for (let d = last - 1; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

export function openTorchZip(src: FileSource, opts: OpenWeightsOptions = {}): WeightFile {
  const path = src.path;
  const entries = readZipDirectory(src);
  if (entries.length === 0) throw new Error(`${path}: zip archive is empty`);
  const first = entries[0]!.name;
  const slash = first.indexOf('/');
  if (slash < 0) throw new Error(`${path}: not a torch.save archive (first entry '${first}' has no directory)`);
  const dir = first.slice(0, slash + 1);
  const byName = new Map<string, ZipEntry>(entries.map((e) => [e.name, e]));
  const pklEntry = byName.get(`${dir}data.pkl`);
  if (!pklEntry) throw new Error(`${path}: not a torch.save archive (no '${dir}data.pkl')`);

  let top: unknown;
  try {
    top = unpickle(readEntry(src, pklEntry), { reducers: makeReducers(), persistentLoad, label: `${path}: ${dir}data.pkl` });
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${dir}data.pkl: ${msg}`);
  }
  const sd = selectStateDict(top, opts, path);

  const tensors = new Map<string, TensorInfo>();
  const records = new Map<string, ZipEntry>();
  for (const [name, t] of sd) {
    const st = t.storage;
    if (!t.dtype) throw new Error(`${path}: tensor '${name}' uses unsupported storage type ${st.typeName}`);
    const rec = byName.get(`${dir}data/${st.key}`);
    if (!rec) throw new Error(`${path}: tensor '${name}' refers to missing record '${dir}data/${st.key}'`);
    const es = DTYPE_SIZE[t.dtype];
    const span = spanOf(t.shape, t.stride);
    const needBytes = span === 0 ? 0 : (t.offset + span) * es;
    if (needBytes > rec.size) {
      throw new Error(`${path}: tensor '${name}' needs ${needBytes} bytes of storage '${st.key}' but its record holds ${rec.size} (truncated or corrupt)`);
    }
    entryDataOffset(src, rec); // validates the record lies inside the file
    records.set(name, rec);
    tensors.set(name, { name, dtype: t.dtype, shape: [...t.shape] });
  }

  const raw = (name: string): Uint8Array => {
    const t = sd.get(name);
    const rec = records.get(name);
    if (!t || !rec) throw new Error(`${path}: no tensor named '${name}'`);
    const es = DTYPE_SIZE[t.dtype!];
    const n = numelOf(t.shape);
    if (n === 0) return new Uint8Array(0);
    const what = `tensor '${name}'`;
    if (isContiguous(t.shape, t.stride)) return readEntryRange(src, rec, t.offset * es, n * es, what);
    const span = spanOf(t.shape, t.stride);
    return gatherStrided(readEntryRange(src, rec, t.offset * es, span * es, what), es, t.shape, t.stride);
  };
  const dtypeOf = (name: string): WeightDType => {
    const t = sd.get(name);
    if (!t) throw new Error(`${path}: no tensor named '${name}'`);
    return t.dtype!;
  };
  return {
    path,
    format: 'torch-zip',
    tensors,
    meta: top,
    raw,
    float32: (name) => bytesToFloat32(dtypeOf(name), raw(name)),
    int64: (name) => bytesToInt64(dtypeOf(name), raw(name), `${path}: tensor '${name}'`),
    close: () => src.close(),
  };
}
