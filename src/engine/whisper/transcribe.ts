/**
 * Long audio as whisper/transcribe.py walks it, without timestamps: the log-Mel of the whole clip
 * (with 30 s of padding, so its max − 8 floor is global), 30-second windows in sequence, each decoded
 * with temperature fallback (0, 0.2, …, 1.0 while the compression ratio is above 2.4 or the average
 * log-probability below −1, unless the window is silent), windows judged silent skipped, and the text of
 * earlier windows fed as the prompt until a window needed a temperature above 0.5.
 */
import { Prng } from '../generate/prng.ts';
import { isMultilingual, decodeWindow, type DecodeOptions, type DecodingResult } from './decoding.ts';
import { N_FRAMES, N_SAMPLES, logMelSpectrogram } from './mel.ts';
import type { EncodedAudio, WhisperSessions } from './session.ts';
import type { WhisperTask, WhisperTokenizer } from './tokenizer.ts';

export interface TranscribeOptions {
  /** language code; undefined: detected on the first 30 s (multilingual models), 'en' otherwise */
  language?: string;
  task?: WhisperTask;
  temperatures?: readonly number[];
  compressionRatioThreshold?: number | null;
  logprobThreshold?: number | null;
  noSpeechThreshold?: number | null;
  conditionOnPreviousText?: boolean;
  /** most tokens per window (default n_text_ctx / 2) */
  sampleLen?: number;
  /** seed of the draws at temperatures above 0 */
  seed?: number;
}

export interface TranscriptSegment {
  /** seconds */
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avgLogprob: number;
  compressionRatio: number;
  noSpeechProb: number;
}

export interface Transcript {
  text: string;
  language: string;
  segments: TranscriptSegment[];
  /** windows skipped as silence (no-speech probability over the threshold and low log-probability) */
  skipped: number;
}

/** detect_language: the most probable language token after <|startoftranscript|>, with every language's probability. */
export async function detectLanguage(sessions: WhisperSessions, tok: WhisperTokenizer, audio: EncodedAudio): Promise<{ language: string; probs: Map<string, number> }> {
  const logits = await sessions.decodeStep([tok.sot], sessions.newCache(), audio);
  const ids = tok.languages.map((l) => tok.languageToken(l));
  let max = -Infinity;
  for (const id of ids) max = Math.max(max, logits[id]!);
  let sum = 0;
  for (const id of ids) sum += Math.exp(logits[id]! - max);
  const probs = new Map(tok.languages.map((l, i) => [l, Math.exp(logits[ids[i]!]! - max) / sum]));
  let best = tok.languages[0]!;
  for (const [l, p] of probs) if (p > probs.get(best)!) best = l;
  return { language: best, probs };
}

/** transcribe.py decode_with_fallback: the first temperature whose result passes the checks, else the last. */
export async function decodeWithFallback(
  sessions: WhisperSessions,
  tok: WhisperTokenizer,
  audio: EncodedAudio,
  opts: TranscribeOptions & Pick<DecodeOptions, 'prompt' | 'rng'>,
): Promise<DecodingResult> {
  const temperatures = opts.temperatures ?? [0, 0.2, 0.4, 0.6, 0.8, 1.0];
  const cr = opts.compressionRatioThreshold === undefined ? 2.4 : opts.compressionRatioThreshold;
  const lp = opts.logprobThreshold === undefined ? -1 : opts.logprobThreshold;
  const ns = opts.noSpeechThreshold === undefined ? 0.6 : opts.noSpeechThreshold;
  let result: DecodingResult | undefined;
  for (const temperature of temperatures) {
    result = await decodeWindow(sessions, tok, audio, {
      temperature,
      ...(opts.language !== undefined ? { language: opts.language } : {}),
      ...(opts.task !== undefined ? { task: opts.task } : {}),
      ...(opts.sampleLen !== undefined ? { sampleLen: opts.sampleLen } : {}),
      ...(opts.prompt ? { prompt: opts.prompt } : {}),
      ...(opts.rng ? { rng: opts.rng } : {}),
    });
    let fallback = (cr !== null && result.compressionRatio > cr) || (lp !== null && result.avgLogprob < lp);
    if (ns !== null && lp !== null && result.noSpeechProb > ns && result.avgLogprob < lp) fallback = false; // silence
    if (!fallback) break;
  }
  if (!result) throw new Error('transcribe: no temperatures to decode with');
  return result;
}

/** Transcribes mono 16 kHz samples of any length, one 30-second window after another. */
export async function transcribe(sessions: WhisperSessions, tok: WhisperTokenizer, pcm: Float32Array, opts: TranscribeOptions = {}): Promise<Transcript> {
  const dims = sessions.dims;
  const mel = logMelSpectrogram(pcm, { nMels: dims.nMels, padding: N_SAMPLES });
  const content = mel.frames - N_FRAMES;
  const window = (seek: number, size: number): Float32Array => {
    // pad_or_trim of the mel segment: frames past the content are zeros, as the reference pads them
    const out = new Float32Array(dims.nMels * N_FRAMES);
    for (let m = 0; m < dims.nMels; m++) out.set(mel.data.subarray(m * mel.frames + seek, m * mel.frames + seek + size), m * N_FRAMES);
    return out;
  };
  const rng = new Prng(opts.seed ?? 0);
  let language = opts.language;
  if (language === undefined) {
    language = isMultilingual(dims.nVocab) ? (await detectLanguage(sessions, tok, await sessions.encode(window(0, Math.min(N_FRAMES, mel.frames))))).language : 'en';
  }
  const ns = opts.noSpeechThreshold === undefined ? 0.6 : opts.noSpeechThreshold;
  const lp = opts.logprobThreshold === undefined ? -1 : opts.logprobThreshold;
  const allTokens: number[] = [];
  const segments: TranscriptSegment[] = [];
  let promptResetSince = 0;
  let skipped = 0;
  for (let seek = 0; seek < content; ) {
    const size = Math.min(N_FRAMES, content - seek);
    const audio = await sessions.encode(window(seek, size));
    const r = await decodeWithFallback(sessions, tok, audio, { ...opts, language, prompt: allTokens.slice(promptResetSince), rng });
    const start = seek / 100;
    seek += size;
    if (ns !== null && r.noSpeechProb > ns && !(lp !== null && r.avgLogprob > lp)) {
      skipped++;
      continue;
    }
    const text = tok.decode(r.tokens);
    const tokens = text.trim() === '' ? [] : r.tokens;
    segments.push({
      start,
      end: start + size / 100,
      text: tokens.length ? text : '',
      tokens,
      temperature: r.temperature,
      avgLogprob: r.avgLogprob,
      compressionRatio: r.compressionRatio,
      noSpeechProb: r.noSpeechProb,
    });
    allTokens.push(...tokens);
    if (opts.conditionOnPreviousText === false || r.temperature > 0.5) promptResetSince = allTokens.length;
  }
  return { text: tok.decode(allTokens), language, segments, skipped };
}
