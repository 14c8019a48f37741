/**
 * NumPy .npy reader/writer (C order, little-endian data).
 *
 * Reading: format versions 1.0, 2.0 and 3.0; dtypes <f4 <f8 <f2 <i8 <i4 |i1 |u1 |b1 (and their
 * big-endian '>' forms, which are byte-swapped). float16 is decoded to a Float32Array (exact);
 * bool comes back as a Uint8Array of 0/1. fortran_order=True, structured and object dtypes are refused.
 * When reading from a path the returned data is a view into the freshly read file buffer (no second
 * copy); when reading from caller-supplied bytes it is a copy (never aliases the caller's memory).
 *
 * Writing: version 1.0 (2.0 if the header exceeds 65535 bytes), header padded to a multiple of 64 like
 * numpy's own writer, so `encodeNpy` output is byte-identical to `np.save` for the same array.
 * Writable dtypes: float32 float64 float16 (from a Float32Array, rounded to nearest even, or raw
 * Uint16Array bits) int64 int32 int8 uint8 bool.
 */
import fs from 'node:fs';
import { f16ToF32, f32ToF16 } from './weights/dtype.ts';

export type NpyDType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** float16 → Float32Array, bool → Uint8Array (0/1). C order. */
  data: NpyData;
}

export interface NpyInput {
  dtype: NpyDType;
  shape: readonly number[];
  data: ArrayLike<number> | ArrayLike<bigint> | Uint16Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<string, { dtype: NpyDType; size: number }> = {
  f4: { dtype: 'float32', size: 4 },
  f8: { dtype: 'float64', size: 8 },
  f2: { dtype: 'float16', size: 2 },
  i8: { dtype: 'int64', size: 8 },
  i4: { dtype: 'int32', size: 4 },
  i1: { dtype: 'int8', size: 1 },
  u1: { dtype: 'uint8', size: 1 },
  b1: { dtype: 'bool', size: 1 },
};
const DESCR_OUT: Record<NpyDType, string> = {
  float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4', int8: '|i1', uint8: '|u1', bool: '|b1',
};

// ---------------------------------------------------------------------------------------------
// header literal parser: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
type PyVal = string | number | boolean | null | PyVal[] | Map<string, PyVal>;

function parsePyLiteral(src: string): PyVal {
  let i = 0;
  const ws = () => { while (i < src.length && /\s/.test(src[i]!)) i++; };
  const fail = (msg: string): never => { throw new Error(`${msg} at column ${i} of header ${JSON.stringify(src.trim())}`); };
  const value = (): PyVal => {
    ws();
    const c = src[i];
    if (c === '{') {
      i++;
      const m = new Map<string, PyVal>();
      for (;;) {
        ws();
        if (src[i] === '}') { i++; return m; }
        const k = value();
        if (typeof k !== 'string') fail('dict key is not a string');
        ws();
        if (src[i] !== ':') fail("expected ':'");
        i++;
        m.set(k as string, value());
        ws();
        if (src[i] === ',') i++;
        else if (src[i] !== '}') fail("expected ',' or '}'");
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const a: PyVal[] = [];
      for (;;) {
        ws();
        if (src[i] === close) { i++; return a; }
        a.push(value());
        ws();
        if (src[i] === ',') i++;
        else if (src[i] !== close) fail(`expected ',' or '${close}'`);
      }
    }
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = src.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    const m = /^(True|False|None|-?\d+L?)/.exec(src.slice(i));
    if (!m) fail('unexpected token');
    i += m![0].length;
    const t = m![0];
    if (t === 'True') return true;
    if (t === 'False') return false;
    if (t === 'None') return null;
    return Number.parseInt(t, 10);
  };
  const v = value();
  ws();
  if (i !== src.length) fail('trailing characters');
  return v;
}

// ---------------------------------------------------------------------------------------------

export function readNpy(src: string | Uint8Array, name?: string): NpyArray {
  const label = typeof src === 'string' ? src : (name ?? '<npy bytes>');
  const bytes = typeof src === 'string' ? fs.readFileSync(src) : src;
  const own = typeof src === 'string';
  const fail = (msg: string): never => { throw new Error(`${label}: ${msg}`); };

  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) {
    fail(`not a .npy file (bad magic ${hex(bytes.subarray(0, 6))}, expected 93 4e 55 4d 50 59)`);
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let hlen: number;
  let hstart: number;
  if (major === 1) { hlen = dv.getUint16(8, true); hstart = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail('truncated header');
    hlen = dv.getUint32(8, true); hstart = 12;
  } else return fail(`unsupported .npy format version ${major}.${minor}`);
  if (hstart + hlen > bytes.length) fail(`truncated header: expected ${hlen} header bytes, got ${bytes.length - hstart}`);
  const htext = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(hstart, hstart + hlen));
  let hdr: PyVal;
  try { hdr = parsePyLiteral(htext); } catch (e) { return fail(`bad header: ${(e as Error).message}`); }
  if (!(hdr instanceof Map)) return fail('bad header: not a dict');
  const descr = hdr.get('descr');
  const fortran = hdr.get('fortran_order');
  const shapeV = hdr.get('shape');
  if (typeof descr !== 'string') return fail(`unsupported dtype ${JSON.stringify(descr)} (structured dtypes are not supported)`);
  if (typeof fortran !== 'boolean') return fail("bad header: missing 'fortran_order'");
  if (!Array.isArray(shapeV) || shapeV.some((d) => typeof d !== 'number' || d < 0)) return fail(`bad header: bad shape ${JSON.stringify(shapeV)}`);
  if (fortran) fail('fortran_order=True arrays are not supported (save with np.ascontiguousarray)');
  const order = descr[0]!;
  const info = DESCR[descr.slice(1)];
  if (!info || !'<>|='.includes(order)) return fail(`unsupported dtype '${descr}' (supported: <f4 <f8 <f2 <i8 <i4 |i1 |u1 |b1)`);
  const shape = shapeV as number[];
  const n = shape.reduce((a, b) => a * b, 1);
  const start = hstart + hlen;
  const need = n * info.size;
  const got = bytes.length - start;
  if (got < need) fail(`truncated data: expected ${need} bytes, got ${got} (dtype ${descr}, shape [${shape.join(',')}])`);

  let raw = bytes.subarray(start, start + need);
  const swap = order === '>' && info.size > 1;
  if (!own || swap || raw.byteOffset % info.size !== 0) raw = raw.slice(); // own aligned copy
  if (swap) byteswap(raw, info.size);
  const { buffer, byteOffset } = raw;
  let data: NpyData;
  switch (info.dtype) {
    case 'float32': data = new Float32Array(buffer, byteOffset, n); break;
    case 'float64': data = new Float64Array(buffer, byteOffset, n); break;
    case 'float16': data = f16ToF32(new Uint16Array(buffer, byteOffset, n)); break;
    case 'int64': data = new BigInt64Array(buffer, byteOffset, n); break;
    case 'int32': data = new Int32Array(buffer, byteOffset, n); break;
    case 'int8': data = new Int8Array(buffer, byteOffset, n); break;
    case 'uint8':
    case 'bool': data = new Uint8Array(buffer, byteOffset, n); break;
  }
  return { dtype: info.dtype, shape: [...shape], data };
}

function byteswap(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) {
    for (let a = i, z = i + size - 1; a < z; a++, z--) { const t = b[a]!; b[a] = b[z]!; b[z] = t; }
  }
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Serialise an array to .npy bytes (see module doc for the accepted dtypes and data types). */
export function encodeNpy(arr: NpyInput): Uint8Array {
  const { dtype, shape, data } = arr;
  const descr = DESCR_OUT[dtype];
  if (!descr) throw new Error(`encodeNpy: unsupported dtype ${String(dtype)}`);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`encodeNpy: bad shape [${shape.join(',')}]`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`encodeNpy: data has ${data.length} elements, shape [${shape.join(',')}] needs ${n}`);
  const body = encodeData(dtype, data, n);

  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // numpy >= 1.24 reserves room so the first axis can grow in place (GROWTH_AXIS_MAX_DIGITS = 21)
  if (shape.length > 0) header += ' '.repeat(Math.max(0, 21 - String(shape[0]).length));
  const pad = (pre: number) => header + ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  let pre = 10;
  let padded = pad(pre);
  if (padded.length > 0xffff) { pre = 12; padded = pad(pre); }
  header = padded;
  const out = new Uint8Array(pre + header.length + body.byteLength);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (pre === 10) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(body, pre + header.length);
  return out;
}

function encodeData(dtype: NpyDType, data: NpyInput['data'], n: number): Uint8Array {
  const bytesOf = (t: ArrayBufferView) => new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  const nums = () => {
    if (data instanceof BigInt64Array || (n > 0 && typeof data[0] === 'bigint')) {
      throw new Error(`encodeNpy: ${dtype} data must be numbers, got bigints`);
    }
    return data as ArrayLike<number>;
  };
  switch (dtype) {
    case 'float32': return bytesOf(data instanceof Float32Array ? data : Float32Array.from(nums()));
    case 'float64': return bytesOf(data instanceof Float64Array ? data : Float64Array.from(nums()));
    case 'float16': return bytesOf(data instanceof Uint16Array ? data : f32ToF16(nums()));
    case 'int32': return bytesOf(data instanceof Int32Array ? data : Int32Array.from(nums()));
    case 'int8': return bytesOf(data instanceof Int8Array ? data : Int8Array.from(nums()));
    case 'uint8': return bytesOf(data instanceof Uint8Array ? data : Uint8Array.from(nums()));
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i] ? 1 : 0;
      return out;
    }
    case 'int64': {
      if (data instanceof BigInt64Array) return bytesOf(data);
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i]!;
        if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`encodeNpy: int64 element ${i} (${v}) is not a safe integer`);
        out[i] = BigInt(v);
      }
      return bytesOf(out);
    }
  }
}

/** Write an array as a .npy file (synchronous). */
export function writeNpy(path: string, arr: NpyInput): void {
  fs.writeFileSync(path, encodeNpy(arr));
}
