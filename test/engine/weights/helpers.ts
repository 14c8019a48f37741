/**
 * Tiny writers used by the weight-reader tests: a protocol-2 pickler in torch's style, a ZIP writer
 * (stored/deflated entries, optional 64-byte 'FB' alignment like torch, optional forced ZIP64) and a
 * safetensors writer.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

// ------------------------------------------------------------------------------------------------
// pickle

export class PyTuple { constructor(readonly items: PyValue[]) {} }
export class PyFloat { constructor(readonly value: number) {} }
export class PyGlobal { constructor(readonly module: string, readonly name: string) {} }
/** collections.OrderedDict(...) with an optional `_metadata` BUILD like nn.Module.state_dict() */
export class PyOrderedDict { constructor(readonly entries: [PyValue, PyValue][], readonly metadata?: PyValue) {} }
/** cls.__new__(cls, *args) then BUILD(state): how pickle stores ordinary class instances */
export class PyObject { constructor(readonly cls: PyGlobal, readonly args: PyValue[], readonly state?: PyValue) {} }
export class PyBytes { constructor(readonly bytes: Uint8Array) {} }
export interface StorageSpec {
  key: string; type: string; numel: number; location?: string;
  /** legacy torch.save: the persistent id's sixth field, (view_key, offset, size) or None when present */
  view?: { key: string; offset: number; size: number } | null;
}
export class PyTensor {
  constructor(
    readonly storage: StorageSpec,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
    readonly parameter = false,
  ) {}
}
export type PyValue =
  | string | number | bigint | boolean | null
  | PyValue[] | Map<PyValue, PyValue>
  | PyTuple | PyFloat | PyGlobal | PyOrderedDict | PyObject | PyBytes | PyTensor;

export class PickleWriter {
  private out: number[] = [];
  private memo = new Map<string, number>(); // globals → memo index
  private nextMemo = 0;

  op(...bytes: number[]): this { this.out.push(...bytes); return this; }
  u32(v: number): this { this.out.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff); return this; }
  put(): this {
    const i = this.nextMemo++;
    if (i < 256) this.op(0x71, i); else this.op(0x72).u32(i);
    return this;
  }
  get(i: number): this { if (i < 256) this.op(0x68, i); else this.op(0x6a).u32(i); return this; }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    this.op(0x58).u32(b.length).op(...b);
    return this.put();
  }
  int(v: number | bigint): this {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) return this.op(0x4b, v);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >> 8);
    if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return this.op(0x4a).u32(v >>> 0);
    // LONG1: little-endian two's complement, minimal length
    let b = BigInt(v);
    const bytes: number[] = [];
    for (;;) {
      bytes.push(Number(b & 0xffn));
      b >>= 8n;
      const sign = bytes[bytes.length - 1]! & 0x80;
      if ((b === 0n && !sign) || (b === -1n && sign)) break;
    }
    return this.op(0x8a, bytes.length, ...bytes);
  }
  float(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    return this.op(0x47, ...b);
  }
  global(module: string, name: string): this {
    const key = `${module}\n${name}\n`;
    const m = this.memo.get(key);
    if (m !== undefined) return this.get(m);
    this.op(0x63, ...new TextEncoder().encode(key));
    this.memo.set(key, this.nextMemo);
    return this.put();
  }

  value(v: PyValue): this {
    if (v === null) return this.op(0x4e);
    if (v === true) return this.op(0x88);
    if (v === false) return this.op(0x89);
    if (typeof v === 'string') return this.str(v);
    if (typeof v === 'number' || typeof v === 'bigint') return this.int(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (v instanceof PyGlobal) return this.global(v.module, v.name);
    if (v instanceof PyBytes) {
      // protocol-2 style: _codecs.encode(str, 'latin1')
      this.global('_codecs', 'encode');
      this.str(String.fromCharCode(...v.bytes)).str('latin1').op(0x86).put().op(0x52);
      return this.put();
    }
    if (v instanceof PyTuple) {
      const n = v.items.length;
      if (n === 0) return this.op(0x29);
      if (n <= 3) { for (const x of v.items) this.value(x); return this.op(0x84 + n).put(); }
      this.op(0x28);
      for (const x of v.items) this.value(x);
      return this.op(0x74).put();
    }
    if (Array.isArray(v)) {
      this.op(0x5d).put();
      if (v.length === 1) return this.value(v[0]!).op(0x61);
      if (v.length === 0) return this;
      this.op(0x28);
      for (const x of v) this.value(x);
      return this.op(0x65);
    }
    if (v instanceof Map) {
      this.op(0x7d).put();
      if (v.size === 1) { const [[k, x]] = [...v]; return this.value(k!).value(x!).op(0x73); }
      if (v.size === 0) return this;
      this.op(0x28);
      for (const [k, x] of v) this.value(k).value(x);
      return this.op(0x75);
    }
    if (v instanceof PyOrderedDict) {
      this.global('collections', 'OrderedDict').op(0x29, 0x52).put();
      if (v.entries.length) {
        this.op(0x28);
        for (const [k, x] of v.entries) this.value(k).value(x);
        this.op(0x75);
      }
      if (v.metadata !== undefined) this.value(new Map<PyValue, PyValue>([['_metadata', v.metadata]])).op(0x62);
      return this;
    }
    if (v instanceof PyObject) {
      this.value(v.cls).value(new PyTuple(v.args)).op(0x81).put();
      if (v.state !== undefined) this.value(v.state).op(0x62);
      return this;
    }
    if (v instanceof PyTensor) {
      if (v.parameter) this.global('torch._utils', '_rebuild_parameter');
      this.global('torch._utils', '_rebuild_tensor_v2');
      this.op(0x28); // args
      const s = v.storage;
      const pid: PyValue[] = ['storage', new PyGlobal('torch', s.type), s.key, s.location ?? 'cpu', s.numel];
      if (s.view !== undefined) pid.push(s.view && new PyTuple([s.view.key, s.view.offset, s.view.size]));
      this.value(new PyTuple(pid)).op(0x51);
      this.int(v.offset).value(new PyTuple(v.size)).value(new PyTuple(v.stride)).op(0x89);
      this.global('collections', 'OrderedDict').op(0x29, 0x52);
      this.op(0x74).put().op(0x52).put();
      if (v.parameter) this.op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52).op(0x87).op(0x52).put();
      return this;
    }
    throw new Error(`PickleWriter: cannot pickle ${String(v)}`);
  }

  /** PROTO 2, the value, STOP */
  static dumps(v: PyValue): Uint8Array {
    const w = new PickleWriter();
    w.op(0x80, 2).value(v).op(0x2e);
    return Uint8Array.from(w.out);
  }
}

// ------------------------------------------------------------------------------------------------
// zip

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipInput { name: string; data: Uint8Array; deflate?: boolean }

class Bytes {
  parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void { this.parts.push(b); this.length += b.length; }
  le(...fields: [number, 2 | 4 | 8][]): void {
    const size = fields.reduce((a, [, n]) => a + n, 0);
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    let p = 0;
    for (const [v, n] of fields) {
      if (n === 2) dv.setUint16(p, v, true);
      else if (n === 4) dv.setUint32(p, v >>> 0, true);
      else dv.setBigUint64(p, BigInt(v), true);
      p += n;
    }
    this.push(b);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let p = 0;
    for (const x of this.parts) { out.set(x, p); p += x.length; }
    return out;
  }
}

/**
 * Write a ZIP. `align64`: pad each local header with an 'FB' extra field so data starts at a
 * multiple of 64 (as torch does). `zip64`: write ZIP64 records even though nothing needs them.
 */
export function writeZip(files: ZipInput[], opts: { align64?: boolean; zip64?: boolean } = {}): Uint8Array {
  const z = new Bytes();
  const central: { name: Uint8Array; method: number; crc: number; csize: number; size: number; offset: number }[] = [];
  for (const f of files) {
    const name = new TextEncoder().encode(f.name);
    const method = f.deflate ? 8 : 0;
    const body = f.deflate ? zlib.deflateRawSync(f.data) : f.data;
    const crc = crc32(f.data);
    const offset = z.length;
    let extra = new Uint8Array(0);
    if (opts.align64) {
      const base = offset + 30 + name.length + 4;
      const pad = (64 - (base % 64)) % 64;
      extra = new Uint8Array(4 + pad).fill(0x5a);
      extra[0] = 0x46; extra[1] = 0x42; extra[2] = pad & 0xff; extra[3] = pad >> 8;
    }
    z.le([0x04034b50, 4], [20, 2], [0x0800, 2], [method, 2], [0, 2], [0, 2], [crc, 4], [body.length, 4], [f.data.length, 4], [name.length, 2], [extra.length, 2]);
    z.push(name);
    z.push(extra);
    z.push(body);
    central.push({ name, method, crc, csize: body.length, size: f.data.length, offset });
  }
  const cdOffset = z.length;
  for (const c of central) {
    const z64 = !!opts.zip64;
    const extraLen = z64 ? 4 + 24 : 0;
    z.le([0x02014b50, 4], [z64 ? 45 : 20, 2], [z64 ? 45 : 20, 2], [0x0800, 2], [c.method, 2], [0, 2], [0, 2], [c.crc, 4],
      [z64 ? 0xffffffff : c.csize, 4], [z64 ? 0xffffffff : c.size, 4], [c.name.length, 2], [extraLen, 2], [0, 2], [0, 2], [0, 2], [0, 4],
      [z64 ? 0xffffffff : c.offset, 4]);
    z.push(c.name);
    if (z64) z.le([0x0001, 2], [24, 2], [c.size, 8], [c.csize, 8], [c.offset, 8]);
  }
  const cdSize = z.length - cdOffset;
  if (opts.zip64) {
    const e64 = z.length;
    z.le([0x06064b50, 4], [44, 8], [45, 2], [45, 2], [0, 4], [0, 4], [central.length, 8], [central.length, 8], [cdSize, 8], [cdOffset, 8]);
    z.le([0x07064b50, 4], [0, 4], [e64, 8], [1, 4]);
    z.le([0x06054b50, 4], [0, 2], [0, 2], [0xffff, 2], [0xffff, 2], [0xffffffff, 4], [0xffffffff, 4], [0, 2]);
  } else {
    z.le([0x06054b50, 4], [0, 2], [0, 2], [central.length, 2], [central.length, 2], [cdSize, 4], [cdOffset, 4], [0, 2]);
  }
  return z.concat();
}

/** A torch.save-style archive: `<dir>/data.pkl`, `<dir>/data/<key>`..., `<dir>/version`. */
export function torchZip(
  obj: PyValue,
  storages: Record<string, ArrayBufferView>,
  opts: { dir?: string; align64?: boolean; zip64?: boolean; deflate?: boolean } = {},
): Uint8Array {
  const dir = opts.dir ?? 'archive';
  const files: ZipInput[] = [{ name: `${dir}/data.pkl`, data: PickleWriter.dumps(obj), deflate: opts.deflate }];
  for (const [k, v] of Object.entries(storages)) {
    files.push({ name: `${dir}/data/${k}`, data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), deflate: opts.deflate });
  }
  files.push({ name: `${dir}/version`, data: new TextEncoder().encode('3\n') });
  return writeZip(files, opts);
}

export interface LegacyOptions {
  magic?: PyValue; protocol?: PyValue; littleEndian?: boolean;
  /** element counts to write instead of the true ones, by storage key */
  counts?: Record<string, number>;
  /** raw bytes for the object's pickle (instead of pickling obj) */
  objectPickle?: Uint8Array;
}

/**
 * The parts of a legacy (non-zip) torch.save file in order: magic number, protocol version, sys_info, the
 * object, the sorted storage keys, then per key an int64 element count and the bytes. The options break it for tests.
 */
function legacyParts(obj: PyValue, storages: Record<string, ArrayBufferView>, opts: LegacyOptions): Uint8Array[] {
  const sysInfo = new Map<PyValue, PyValue>([
    ['protocol_version', 1001], ['little_endian', opts.littleEndian ?? true],
    ['type_sizes', new Map<PyValue, PyValue>([['short', 2], ['int', 4], ['long', 4]])],
  ]);
  const keys = Object.keys(storages).sort();
  const parts: Uint8Array[] = [
    PickleWriter.dumps(opts.magic ?? 0x1950a86a20f9469cfc6cn), PickleWriter.dumps(opts.protocol ?? 1001),
    PickleWriter.dumps(sysInfo), opts.objectPickle ?? PickleWriter.dumps(obj), PickleWriter.dumps(keys),
  ];
  for (const k of keys) {
    const v = storages[k]!;
    const count = new Uint8Array(8);
    const n = opts.counts?.[k] ?? v.byteLength / ((v as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1);
    new DataView(count.buffer).setBigInt64(0, BigInt(n), true);
    parts.push(count, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return parts;
}

/** A legacy (non-zip) torch.save file in memory. */
export function torchLegacy(obj: PyValue, storages: Record<string, ArrayBufferView>, opts: LegacyOptions = {}): Uint8Array {
  const parts = legacyParts(obj, storages, opts);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let p = 0;
  for (const x of parts) { out.set(x, p); p += x.length; }
  return out;
}

/** The same written straight to a file (no second copy of large storages); returns the file's size. */
export function writeTorchLegacy(file: string, obj: PyValue, storages: Record<string, ArrayBufferView>): number {
  const fd = fs.openSync(file, 'w');
  let size = 0;
  try {
    for (const part of legacyParts(obj, storages, {})) {
      for (let done = 0; done < part.length; ) done += fs.writeSync(fd, part, done);
      size += part.length;
    }
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

// ------------------------------------------------------------------------------------------------
// safetensors

export interface StTensor { name: string; dtype: string; shape: number[]; data: ArrayBufferView }

export function writeSafetensors(tensors: StTensor[], metadata?: Record<string, string>): Uint8Array {
  const hdr: Record<string, unknown> = {};
  if (metadata) hdr.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    hdr[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let json = JSON.stringify(hdr);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let p = 8 + h.length;
  for (const t of tensors) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}
