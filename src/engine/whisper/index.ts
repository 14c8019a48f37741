/**
 * Whisper speech recognition on the engine: official .pt checkpoints, the log-Mel front end, encoder and
 * key/value-cached decoder sessions, the tiktoken tokenizer and the reference's decoding rules.
 *
 *   const w = await Whisper.load('models/whisper/base.pt');          // rank file beside it
 *   const { text } = await w.transcribe(pcm16k, { language: 'en' });
 *   await w.release();
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadWhisperCheckpoint, type WhisperDims } from './checkpoint.ts';
import { isMultilingual, numLanguages } from './decoding.ts';
import { WhisperModel } from './model.ts';
import { WhisperSessions, type WhisperSessionOptions } from './session.ts';
import { WhisperTokenizer } from './tokenizer.ts';
import { transcribe, type TranscribeOptions, type Transcript } from './transcribe.ts';

export { loadWhisperCheckpoint, parseDims, expectedWhisperTensors, WhisperCheckpointError, type WhisperDims, type WhisperCheckpoint } from './checkpoint.ts';
export { CHUNK_LENGTH, HOP_LENGTH, N_FFT, N_FRAMES, N_SAMPLES, SAMPLE_RATE, MelError, logMelSpectrogram, melFilters, melFilterMatrix, padOrTrim, whisperMel, type LogMel } from './mel.ts';
export { WhisperModel, gelu } from './model.ts';
export { DecoderCache, WhisperSessions, encoderGraph, logitsGraph, stepGraph, type EncodedAudio, type WhisperSessionOptions } from './session.ts';
export { LANGUAGE_CODES, TokenizerError, WhisperTokenizer, type WhisperTask } from './tokenizer.ts';
export { compressionRatio, decodeWindow, isMultilingual, numLanguages, suppressTokenIds, type DecodeOptions, type DecodingResult } from './decoding.ts';
export { decodeWithFallback, detectLanguage, transcribe, type TranscribeOptions, type Transcript, type TranscriptSegment } from './transcribe.ts';
export { WHISPER_SIZES, benchWhisperWindow, randomWhisperModel, sinusoids, whisperDims, type WhisperBenchReport, type WhisperSize } from './bench.ts';

/** The tokenizer rank file a checkpoint needs: multilingual.tiktoken, or gpt2.tiktoken for the English-only models. */
export function rankFileName(dims: WhisperDims): string {
  return isMultilingual(dims.nVocab) ? 'multilingual.tiktoken' : 'gpt2.tiktoken';
}

export interface WhisperLoadOptions extends Omit<WhisperSessionOptions, 'batch'> {
  /** the rank file (default: beside the checkpoint) */
  rankFile?: string;
}

/** A loaded checkpoint with its tokenizer and sessions (batch 1). */
export class Whisper {
  private constructor(
    readonly model: WhisperModel,
    readonly tokenizer: WhisperTokenizer,
    readonly sessions: WhisperSessions,
  ) {}

  static async load(checkpoint: string, opts: WhisperLoadOptions = {}): Promise<Whisper> {
    const ck = await loadWhisperCheckpoint(checkpoint);
    const rankFile = opts.rankFile ?? path.join(path.dirname(checkpoint), rankFileName(ck.dims));
    if (!fs.existsSync(rankFile)) throw new Error(`the Whisper tokenizer's rank file ${rankFile} is missing (whisper/assets/${path.basename(rankFile)} of openai/whisper)`);
    const tokenizer = WhisperTokenizer.load(rankFile, numLanguages(ck.dims.nVocab));
    if (tokenizer.nVocab !== ck.dims.nVocab) throw new Error(`${rankFile} gives ${tokenizer.nVocab} tokens but ${checkpoint} has ${ck.dims.nVocab}`);
    const model = new WhisperModel(ck.params, ck.dims);
    const sessions = await WhisperSessions.create(model, { ...(opts.device ? { device: opts.device } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
    return new Whisper(model, tokenizer, sessions);
  }

  get dims(): WhisperDims {
    return this.model.dims;
  }

  /** Mono float32 samples at 16 kHz, any length. */
  transcribe(pcm: Float32Array, opts: TranscribeOptions = {}): Promise<Transcript> {
    return transcribe(this.sessions, this.tokenizer, pcm, opts);
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
