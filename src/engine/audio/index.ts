/**
 * Audio in for speech: Ogg/Opus (Discord voice messages) and WAV (PCM integer or float), decoded in JS,
 * mixed to mono and resampled to Whisper's 16 kHz. The length limit is checked from the headers before
 * anything is decoded.
 *
 *   const { pcm, seconds } = decodeAudio(bytes, { maxSeconds: 60 });
 */
import { AudioError } from './errors.ts';
import { isOgg } from './ogg.ts';
import { decodeOggOpus, readOggOpus } from './opus.ts';
import { resample } from './resample.ts';
import { decodeWav, isWav, wavInfo } from './wav.ts';

export { AudioError, type AudioErrorCode } from './errors.ts';
export { oggCrc, oggPackets, isOgg } from './ogg.ts';
export { OPUS_RATE, decodeOggOpus, parseOpusHead, readOggOpus } from './opus.ts';
export { KAISER_BETA, ROLLOFF, ZERO_CROSSINGS, resample } from './resample.ts';
export { decodeWav, encodeWav, isWav, wavInfo, type DecodedPcm } from './wav.ts';

export const SPEECH_RATE = 16000;
export const DEFAULT_MAX_AUDIO_SECONDS = 60;

export type AudioFormat = 'ogg-opus' | 'wav';

export interface DecodedAudio {
  /** mono float32 at 16 kHz */
  pcm: Float32Array;
  seconds: number;
  format: AudioFormat;
  sampleRate: number;
  channels: number;
}

/** What the first bytes say: a format we decode, another audio format, or not audio at all. */
export function sniffAudio(b: Uint8Array): AudioFormat | 'other-audio' | undefined {
  if (isOgg(b)) return 'ogg-opus';
  if (isWav(b)) return 'wav';
  const s = (o: number, n: number) => String.fromCharCode(...b.subarray(o, o + n));
  if (s(0, 3) === 'ID3' || (b[0] === 0xff && (b[1]! & 0xe0) === 0xe0) || s(0, 4) === 'fLaC' || s(4, 4) === 'ftyp' || (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3)) return 'other-audio';
  return undefined;
}

export interface DecodeAudioOptions {
  /** longest clip accepted (default 60 s) */
  maxSeconds?: number;
}

export function decodeAudio(b: Uint8Array, opts: DecodeAudioOptions = {}): DecodedAudio {
  const max = opts.maxSeconds ?? DEFAULT_MAX_AUDIO_SECONDS;
  const kind = sniffAudio(b);
  if (kind === undefined) throw new AudioError('not_audio', 'the file is not audio');
  if (kind === 'other-audio') throw new AudioError('unsupported', 'an audio format other than Ogg/Opus or WAV');
  const tooLong = (seconds: number) => new AudioError('too_long', `the clip is ${seconds.toFixed(1)} s long; the limit is ${max} s`);
  let decoded;
  if (kind === 'ogg-opus') {
    const parsed = readOggOpus(b);
    if (parsed.seconds > max) throw tooLong(parsed.seconds);
    decoded = decodeOggOpus(b, parsed);
  } else {
    const info = wavInfo(b);
    const seconds = info.dataBytes / ((info.bits / 8) * info.channels) / info.sampleRate;
    if (seconds > max) throw tooLong(seconds);
    decoded = decodeWav(b);
  }
  const seconds = decoded.samples.length / decoded.sampleRate;
  if (seconds > max + 0.05) throw tooLong(seconds);
  if (decoded.samples.length === 0) throw new AudioError('empty', 'the clip holds no sound');
  return { pcm: resample(decoded.samples, decoded.sampleRate, SPEECH_RATE), seconds, format: kind, sampleRate: decoded.sampleRate, channels: decoded.channels };
}
