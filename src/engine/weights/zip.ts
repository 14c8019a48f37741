/**
 * Minimal ZIP reader for torch.save archives: End-of-central-directory scan, ZIP64 (EOCD64, locator
 * and the 0x0001 extra field), stored (method 0) and deflated (method 8, node:zlib) entries.
 * CRCs are not verified (neither does torch's reader by default).
 */
import zlib from 'node:zlib';
import type { FileSource } from './source.ts';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** absolute offset of the entry's data, from the local header; filled by `entryDataOffset` */
  dataOffset?: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOC64 = 0x07064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;

function u64(dv: DataView, off: number): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`zip field too large (${v})`);
  return Number(v);
}

/** Parse the central directory. Returns entries in central-directory order. */
export function readZipDirectory(src: FileSource): ZipEntry[] {
  const fail = (msg: string): never => { throw new Error(`${src.path}: not a readable zip archive: ${msg}`); };
  const tailLen = Math.min(src.size, 22 + 0xffff + 20);
  if (src.size < 22) fail(`file is only ${src.size} bytes (truncated?)`);
  const tailStart = src.size - tailLen;
  const tail = src.read(tailStart, tailLen, 'zip trailer');
  const tdv = new DataView(tail.buffer);
  let eocd = -1;
  for (let p = tailLen - 22; p >= 0; p--) {
    if (tdv.getUint32(p, true) === SIG_EOCD && p + 22 + tdv.getUint16(p + 20, true) <= tailLen) { eocd = p; break; }
  }
  if (eocd < 0) fail('end-of-central-directory record not found (file truncated or corrupt)');
  let count = tdv.getUint16(eocd + 10, true);
  let cdSize = tdv.getUint32(eocd + 12, true);
  let cdOffset = tdv.getUint32(eocd + 16, true);
  const eocdAbs = tailStart + eocd;
  let cdEnd = eocdAbs;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    if (eocd < 20 || tdv.getUint32(eocd - 20, true) !== SIG_LOC64) {
      // saturated fields without a ZIP64 locator: only legal if the values are real
      if (cdOffset === 0xffffffff || cdSize === 0xffffffff) fail('ZIP64 locator missing');
    } else {
      const e64Off = u64(tdv, eocd - 20 + 8);
      const e64 = src.read(e64Off, 56, 'ZIP64 end-of-central-directory record');
      const edv = new DataView(e64.buffer);
      if (edv.getUint32(0, true) !== SIG_EOCD64) fail('bad ZIP64 end-of-central-directory signature');
      count = u64(edv, 32);
      cdSize = u64(edv, 40);
      cdOffset = u64(edv, 48);
      cdEnd = e64Off;
    }
  }
  if (cdOffset + cdSize > cdEnd) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) overlaps its end record (file truncated or corrupt)`);
  const cd = src.read(cdOffset, cdSize, 'central directory');
  const dv = new DataView(cd.buffer);
  const utf8 = new TextDecoder();
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || dv.getUint32(p, true) !== SIG_CEN) fail(`bad central directory header #${i}`);
    const method = dv.getUint16(p + 10, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localHeaderOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) fail(`central directory header #${i} overflows`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: only the saturated fields are present, in this order
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = dv.getUint16(x, true);
      const len = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (size === 0xffffffff) { size = u64(dv, q); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = u64(dv, q); q += 8; }
        if (localHeaderOffset === 0xffffffff) { localHeaderOffset = u64(dv, q); q += 8; }
      }
      x += 4 + len;
    }
    entries.push({ name, method, compressedSize, size, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Absolute offset of an entry's data (reads the entry's local header once, then cached). */
export function entryDataOffset(src: FileSource, e: ZipEntry): number {
  if (e.dataOffset !== undefined) return e.dataOffset;
  const h = src.read(e.localHeaderOffset, 30, `local header of '${e.name}'`);
  const dv = new DataView(h.buffer);
  if (dv.getUint32(0, true) !== SIG_LOC) throw new Error(`${src.path}: bad local header signature for '${e.name}' at byte ${e.localHeaderOffset}`);
  e.dataOffset = e.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
  if (e.dataOffset + e.compressedSize > src.size) {
    throw new Error(
      `${src.path}: zip entry '${e.name}' runs past the end of the file (needs bytes up to ${e.dataOffset + e.compressedSize}, file is ${src.size} bytes; truncated?)`,
    );
  }
  return e.dataOffset;
}

/**
 * Read `length` bytes at `offset` inside the entry's uncompressed data. Stored entries: one
 * positional read of just that range. Deflated entries: the whole entry is inflated, then sliced.
 */
export function readEntryRange(src: FileSource, e: ZipEntry, offset: number, length: number, what: string): Uint8Array {
  if (offset + length > e.size) {
    throw new Error(`${src.path}: ${what} needs bytes [${offset}, ${offset + length}) of '${e.name}', which has only ${e.size}`);
  }
  const start = entryDataOffset(src, e);
  if (e.method === 0) return src.read(start + offset, length, what);
  if (e.method === 8) {
    const raw = zlib.inflateRawSync(src.read(start, e.compressedSize, what));
    if (raw.length !== e.size) throw new Error(`${src.path}: '${e.name}' inflated to ${raw.length} bytes, expected ${e.size}`);
    return offset === 0 && length === raw.length && raw.byteOffset === 0 ? raw : raw.slice(offset, offset + length);
  }
  throw new Error(`${src.path}: zip entry '${e.name}' uses unsupported compression method ${e.method}`);
}

export function readEntry(src: FileSource, e: ZipEntry): Uint8Array {
  return readEntryRange(src, e, 0, e.size, `'${e.name}'`);
}
