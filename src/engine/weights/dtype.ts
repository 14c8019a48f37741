/**
 * Element types shared by the weight readers, and the conversions between them.
 * All data is little-endian; the readers refuse to run on a big-endian host.
 */
import os from 'node:os';

export type WeightDType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int8'
  | 'uint8'
  | 'bool';

export const DTYPE_SIZE: Readonly<Record<WeightDType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function assertLittleEndianHost(): void {
  if (os.endianness() !== 'LE') throw new Error('weights/npy readers need a little-endian host');
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

let f16Table: Float32Array | undefined;
/** Lookup table: 65536 half-precision bit patterns → float32 (256 KiB, built once). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

/** Decode IEEE half floats to float32 (exact). */
export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const t = halfTable();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

/** Decode bfloat16 (the high half of a float32) to float32 (exact). */
export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i]! << 16;
  return out;
}

const cvtF32 = new Float32Array(1);
const cvtU32 = new Uint32Array(cvtF32.buffer);
/** float32 → IEEE half, round to nearest even (overflow → ±Inf, NaN kept). */
export function f32ToF16Bits(v: number): number {
  cvtF32[0] = v;
  const x = cvtU32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

export function f32ToF16(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]!);
  return out;
}

/**
 * View `bytes` as a typed array of `dtype`'s storage type. A view when the offset is aligned,
 * otherwise a copy into fresh (aligned) memory. float16/bfloat16 come back as raw Uint16Array bits.
 */
export function typedView(dtype: WeightDType, bytes: Uint8Array):
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array
  | Uint16Array {
  const es = DTYPE_SIZE[dtype];
  if (bytes.byteLength % es !== 0) throw new Error(`byte length ${bytes.byteLength} is not a multiple of ${es} (${dtype})`);
  if (bytes.byteOffset % es !== 0) bytes = bytes.slice();
  const n = bytes.byteLength / es;
  const { buffer, byteOffset } = bytes;
  switch (dtype) {
    case 'float32': return new Float32Array(buffer, byteOffset, n);
    case 'float64': return new Float64Array(buffer, byteOffset, n);
    case 'int64': return new BigInt64Array(buffer, byteOffset, n);
    case 'int32': return new Int32Array(buffer, byteOffset, n);
    case 'int8': return new Int8Array(buffer, byteOffset, n);
    case 'uint8':
    case 'bool': return new Uint8Array(buffer, byteOffset, n);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buffer, byteOffset, n);
  }
}

/** Contiguous little-endian bytes of `dtype` → Float32Array (a view when already aligned float32). */
export function bytesToFloat32(dtype: WeightDType, bytes: Uint8Array): Float32Array {
  const v = typedView(dtype, bytes);
  switch (dtype) {
    case 'float32': return v as Float32Array;
    case 'float16': return f16ToF32(v as Uint16Array);
    case 'bfloat16': return bf16ToF32(v as Uint16Array);
    case 'int64': {
      const src = v as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    default: return Float32Array.from(v as Float64Array | Int32Array | Int8Array | Uint8Array);
  }
}

/** Contiguous little-endian bytes of an integer/bool `dtype` → BigInt64Array (a view for aligned int64). */
export function bytesToInt64(dtype: WeightDType, bytes: Uint8Array, what: string): BigInt64Array {
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64') {
    throw new Error(`${what} is ${dtype}, not an integer tensor: use float32()`);
  }
  const v = typedView(dtype, bytes);
  if (dtype === 'int64') return v as BigInt64Array;
  const src = v as Int32Array | Int8Array | Uint8Array;
  const out = new BigInt64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = BigInt(src[i]!);
  return out;
}
