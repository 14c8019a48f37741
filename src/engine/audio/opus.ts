/**
 * Ogg/Opus (RFC 7845), as Discord voice messages are: the OpusHead and OpusTags headers, then audio
 * packets decoded at 48 kHz with libopus compiled to WebAssembly (npm `opusscript`, no native build),
 * the pre-skip dropped, the end trimmed to the last granule position, the output gain applied and the
 * channels averaged to mono.
 */
import { createRequire } from 'node:module';
import { AudioError } from './errors.ts';
import { oggPackets, type OggPacket } from './ogg.ts';
import type { DecodedPcm } from './wav.ts';

export const OPUS_RATE = 48000;

interface OpusDecoder {
  decode(packet: Buffer): Buffer;
  delete(): void;
}
type OpusScriptCtor = new (rate: 48000, channels: number, application?: number) => OpusDecoder;

let opusScript: OpusScriptCtor | undefined;
function loadOpusScript(): OpusScriptCtor {
  if (opusScript) return opusScript;
  try {
    opusScript = createRequire(import.meta.url)('opusscript') as OpusScriptCtor;
  } catch {
    throw new AudioError('no_decoder', 'the Opus decoder is not installed (npm package opusscript)');
  }
  return opusScript;
}

export interface OpusHead {
  channels: number;
  preSkip: number;
  inputRate: number;
  /** output gain, dB */
  gainDb: number;
  mappingFamily: number;
}

export function parseOpusHead(p: Uint8Array): OpusHead | undefined {
  if (p.length < 19 || String.fromCharCode(...p.subarray(0, 8)) !== 'OpusHead') return undefined;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return { channels: p[9]!, preSkip: v.getUint16(10, true), inputRate: v.getUint32(12, true), gainDb: v.getInt16(16, true) / 256, mappingFamily: p[18]! };
}

export interface OggOpus {
  head: OpusHead;
  packets: OggPacket[];
  /** seconds, from the last granule position (before decoding anything) */
  seconds: number;
}

/** Headers and packets of an Ogg/Opus file; throws AudioError when it is Ogg but not Opus we can decode. */
export function readOggOpus(b: Uint8Array): OggOpus {
  const packets = oggPackets(b);
  const head = packets[0] ? parseOpusHead(packets[0].data) : undefined;
  if (!head) throw new AudioError('unsupported', 'an Ogg file that is not Opus (Vorbis, FLAC…)');
  if (head.mappingFamily !== 0 || head.channels < 1 || head.channels > 2) throw new AudioError('unsupported', `Opus with ${head.channels} channels (mapping family ${head.mappingFamily}); mono or stereo only`);
  const audio = packets.slice(2); // OpusHead, OpusTags
  const last = audio.length ? audio[audio.length - 1]!.granule : 0n;
  return { head, packets: audio, seconds: Math.max(0, Number(last) - head.preSkip) / OPUS_RATE };
}

export function decodeOggOpus(b: Uint8Array, parsed: OggOpus = readOggOpus(b)): DecodedPcm {
  const { head, packets } = parsed;
  const Ctor = loadOpusScript();
  const dec = new Ctor(OPUS_RATE, head.channels);
  const chunks: Int16Array[] = [];
  let frames = 0;
  try {
    for (const p of packets) {
      if (!p.data.length) continue;
      let pcm: Buffer;
      try {
        pcm = dec.decode(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength));
      } catch {
        throw new AudioError('damaged', 'an Opus packet could not be decoded');
      }
      const s = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.byteLength >> 1).slice();
      chunks.push(s);
      frames += s.length / head.channels;
    }
  } finally {
    dec.delete();
  }
  const lastGranule = packets.length ? Number(packets[packets.length - 1]!.granule) : 0;
  const end = Math.min(frames, lastGranule > 0 ? lastGranule : frames);
  const n = Math.max(0, end - head.preSkip);
  const out = new Float32Array(n);
  const gain = Math.pow(10, head.gainDb / 20) / (32768 * head.channels);
  let frame = 0;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i += head.channels, frame++) {
      const o = frame - head.preSkip;
      if (o < 0) continue;
      if (o >= n) break;
      let s = 0;
      for (let ch = 0; ch < head.channels; ch++) s += c[i + ch]!;
      out[o] = s * gain;
    }
  }
  return { samples: out, sampleRate: OPUS_RATE, channels: head.channels };
}
