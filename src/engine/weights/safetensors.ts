/** safetensors reader: 8-byte LE header length, JSON header, byte buffer. */
import { DTYPE_SIZE, bytesToFloat32, bytesToInt64, numelOf, type WeightDType } from './dtype.ts';
import type { FileSource } from './source.ts';
import type { TensorInfo, WeightFile } from './types.ts';

const ST_DTYPES: Record<string, WeightDType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64', I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const MAX_HEADER = 100_000_000;

interface Entry extends TensorInfo { begin: number; end: number; }

export function openSafetensors(src: FileSource): WeightFile {
  const path = src.path;
  const fail = (msg: string): never => { throw new Error(`${path}: ${msg}`); };
  if (src.size < 8) fail(`safetensors file is only ${src.size} bytes (truncated?)`);
  const n64 = new DataView(src.read(0, 8).buffer).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER)) fail(`safetensors header length ${n64} is over the 100 MB limit (not a safetensors file?)`);
  const n = Number(n64);
  if (8 + n > src.size) fail(`safetensors header needs ${n} bytes but the file has only ${src.size - 8} after the length (truncated?)`);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(src.read(8, n, 'safetensors header'));
  let hdr: unknown;
  try { hdr = JSON.parse(text); } catch (e) { return fail(`safetensors header is not valid JSON: ${(e as Error).message}`); }
  if (typeof hdr !== 'object' || hdr === null || Array.isArray(hdr)) return fail('safetensors header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = src.size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  const entries = new Map<string, Entry>();
  let meta: Record<string, string> | undefined;
  for (const [name, v] of Object.entries(hdr as Record<string, unknown>)) {
    if (name === '__metadata__') { meta = v as Record<string, string>; continue; }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = ST_DTYPES[String(e?.dtype)];
    if (!dtype) fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e?.dtype)} (supported: ${Object.keys(ST_DTYPES).join(' ')})`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
      fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const want = numelOf(shape as number[]) * DTYPE_SIZE[dtype!];
    if (end - begin !== want) fail(`tensor '${name}' (${dtype} [${(shape as number[]).join(',')}]) should take ${want} bytes but data_offsets [${begin}, ${end}) give ${end - begin}`);
    if (end > dataLen) fail(`tensor '${name}' data [${begin}, ${end}) runs past the end of the file (only ${dataLen} data bytes; truncated?)`);
    const info: TensorInfo = { name, dtype: dtype!, shape: [...(shape as number[])] };
    tensors.set(name, info);
    entries.set(name, { ...info, begin, end });
  }
  // tensors must not overlap
  const sorted = [...entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.begin < sorted[i - 1]!.end) fail(`tensors '${sorted[i - 1]!.name}' and '${sorted[i]!.name}' overlap`);
  }

  const get = (name: string): Entry => {
    const e = entries.get(name);
    if (!e) throw new Error(`${path}: no tensor named '${name}'`);
    return e;
  };
  const raw = (name: string): Uint8Array => {
    const e = get(name);
    return src.read(dataStart + e.begin, e.end - e.begin, `tensor '${name}'`);
  };
  return {
    path,
    format: 'safetensors',
    tensors,
    meta,
    raw,
    float32: (name) => bytesToFloat32(get(name).dtype, raw(name)),
    int64: (name) => bytesToInt64(get(name).dtype, raw(name), `${path}: tensor '${name}'`),
    close: () => src.close(),
  };
}
