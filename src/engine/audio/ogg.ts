/**
 * Ogg demuxing (RFC 3533): pages → the packets of the first logical stream. Page CRCs are checked, so a
 * damaged or truncated file is refused rather than decoded into noise.
 */
import { AudioError } from './errors.ts';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** The Ogg CRC-32 (polynomial 0x04c11db7, no reflection, init 0) of a page with its CRC field zeroed. */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i]!;
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  }
  return crc;
}

export function isOgg(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x4f && b[1] === 0x67 && b[2] === 0x67 && b[3] === 0x53; // "OggS"
}

export interface OggPacket {
  data: Uint8Array;
  /** granule position of the page this packet ends on (-1: none) */
  granule: bigint;
}

/** The packets of the first logical stream, in order. */
export function oggPackets(b: Uint8Array): OggPacket[] {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const packets: OggPacket[] = [];
  let serial: number | undefined;
  let pending: Uint8Array[] = [];
  let pos = 0;
  while (pos < b.length) {
    if (pos + 27 > b.length || !isOgg(b.subarray(pos))) throw new AudioError('damaged', 'the Ogg file is damaged (a page header is missing)');
    const nSegs = b[pos + 26]!;
    const lacing = b.subarray(pos + 27, pos + 27 + nSegs);
    let bodyLen = 0;
    for (const l of lacing) bodyLen += l;
    const end = pos + 27 + nSegs + bodyLen;
    if (end > b.length) throw new AudioError('damaged', 'the Ogg file is cut short');
    if (oggCrc(b.subarray(pos, end)) !== view.getUint32(pos + 22, true)) throw new AudioError('damaged', 'the Ogg file is damaged (a page checksum does not match)');
    const pageSerial = view.getUint32(pos + 14, true);
    const granule = view.getBigInt64(pos + 6, true);
    serial ??= pageSerial;
    if (pageSerial === serial) {
      let off = pos + 27 + nSegs;
      for (const l of lacing) {
        pending.push(b.subarray(off, off + l));
        off += l;
        if (l < 255) {
          const total = pending.reduce((s, p) => s + p.length, 0);
          const data = new Uint8Array(total);
          let o = 0;
          for (const p of pending) data.set(p, (o += p.length) - p.length);
          packets.push({ data, granule });
          pending = [];
        }
      }
    }
    pos = end;
  }
  return packets;
}
