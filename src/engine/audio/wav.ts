/**
 * RIFF/WAVE: PCM 8/16/24/32-bit integer and IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE, any
 * channel count (mixed down to mono by averaging).
 */
import { AudioError } from './errors.ts';

export function isWav(b: Uint8Array): boolean {
  const s = (o: number) => String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
  return b.length >= 12 && s(0) === 'RIFF' && s(8) === 'WAVE';
}

export interface DecodedPcm {
  /** mono samples in [-1, 1] */
  samples: Float32Array;
  sampleRate: number;
  channels: number;
}

/** The layout of a WAV file from its header alone (its length is checked against the limit before decoding). */
export function wavInfo(b: Uint8Array): { sampleRate: number; channels: number; format: 'int' | 'float'; bits: number; dataOffset: number; dataBytes: number } {
  if (!isWav(b)) throw new AudioError('not_audio', 'not a WAV file');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let fmt: { tag: number; channels: number; rate: number; bits: number } | undefined;
  let pos = 12;
  while (pos + 8 <= b.length) {
    const id = String.fromCharCode(b[pos]!, b[pos + 1]!, b[pos + 2]!, b[pos + 3]!);
    let size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new AudioError('damaged', 'the WAV file has a damaged format chunk');
      let tag = view.getUint16(body, true);
      if (tag === 0xfffe && size >= 26) tag = view.getUint16(body + 24, true); // extensible: the sub-format GUID's first two bytes
      fmt = { tag, channels: view.getUint16(body + 2, true), rate: view.getUint32(body + 4, true), bits: view.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) throw new AudioError('damaged', 'the WAV file has its data before its format');
      // streamed WAVs (size 0 or 0xffffffff) and truncated files: take what is there
      if (size === 0 || size === 0xffffffff || body + size > b.length) size = b.length - body;
      const float = fmt.tag === 3;
      if (!(fmt.tag === 1 || float)) throw new AudioError('unsupported', `WAV encoding ${fmt.tag} (only PCM integer and float samples)`);
      if (float ? fmt.bits !== 32 && fmt.bits !== 64 : ![8, 16, 24, 32].includes(fmt.bits)) throw new AudioError('unsupported', `${fmt.bits}-bit ${float ? 'float' : 'integer'} WAV samples`);
      if (fmt.channels < 1 || fmt.rate < 1000 || fmt.rate > 384000) throw new AudioError('damaged', 'the WAV file has an impossible channel count or sample rate');
      return { sampleRate: fmt.rate, channels: fmt.channels, format: float ? 'float' : 'int', bits: fmt.bits, dataOffset: body, dataBytes: size };
    }
    pos = body + size + (size & 1);
  }
  throw new AudioError('damaged', 'the WAV file has no data chunk');
}

export function decodeWav(b: Uint8Array): DecodedPcm {
  const info = wavInfo(b);
  const { channels, bits } = info;
  const bytesPer = bits / 8;
  const frames = Math.floor(info.dataBytes / (bytesPer * channels));
  const view = new DataView(b.buffer, b.byteOffset + info.dataOffset, frames * bytesPer * channels);
  const read: (o: number) => number =
    info.format === 'float'
      ? bits === 32
        ? (o) => view.getFloat32(o, true)
        : (o) => view.getFloat64(o, true)
      : bits === 8
        ? (o) => (view.getUint8(o) - 128) / 128
        : bits === 16
          ? (o) => view.getInt16(o, true) / 32768
          : bits === 24
            ? (o) => ((view.getUint8(o) | (view.getUint8(o + 1) << 8) | (view.getInt8(o + 2) << 16)) / 8388608)
            : (o) => view.getInt32(o, true) / 2147483648;
  const out = new Float32Array(frames);
  for (let i = 0, o = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++, o += bytesPer) s += read(o);
    out[i] = s / channels;
  }
  return { samples: out, sampleRate: info.sampleRate, channels };
}

/** A mono WAV file (PCM 16-bit or float 32-bit), for tests and the CLI. */
export function encodeWav(samples: Float32Array, sampleRate: number, format: 'pcm16' | 'float32' = 'pcm16'): Buffer {
  const bytesPer = format === 'pcm16' ? 2 : 4;
  const data = samples.length * bytesPer;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'ascii');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVEfmt ', 8, 'ascii');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(format === 'pcm16' ? 1 : 3, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * bytesPer, 28);
  b.writeUInt16LE(bytesPer, 32);
  b.writeUInt16LE(bytesPer * 8, 34);
  b.write('data', 36, 'ascii');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) {
    if (format === 'pcm16') b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768))), 44 + 2 * i);
    else b.writeFloatLE(samples[i]!, 44 + 4 * i);
  }
  return b;
}
