/**
 * Decoding of one 30-second window as whisper/decoding.py does it without timestamps (GreedyDecoder,
 * one sample): the start sequence (optionally <|startofprev|> + the previous text first, then
 * <|startoftranscript|>, language, task, <|notimestamps|>), then one token at a time (argmax at
 * temperature 0, else a draw from softmax(logits / T)) under the SuppressBlank and SuppressTokens rules
 * until <|endoftext|> or sample_len tokens. The log-probabilities, the no-speech probability and the
 * compression ratio are those DecodingResult reports.
 */
import zlib from 'node:zlib';
import { Prng } from '../generate/prng.ts';
import type { EncodedAudio, WhisperSessions } from './session.ts';
import type { WhisperTask, WhisperTokenizer } from './tokenizer.ts';

export interface DecodeOptions {
  /** language code (default 'en'); ignored by English-only models */
  language?: string;
  task?: WhisperTask;
  /** most tokens to sample (default n_text_ctx / 2 = 224) */
  sampleLen?: number;
  /** suppress ' ' and <|endoftext|> as the first sampled token (default true) */
  suppressBlank?: boolean;
  /** token ids to suppress; −1 stands for the non-speech symbols (default [−1], as the reference) */
  suppressTokens?: readonly number[];
  /** 0 (default): argmax; above 0: sample from softmax(logits / temperature) */
  temperature?: number;
  /** text tokens of the previous window(s), fed after <|startofprev|> (the last n_text_ctx/2 − 1 of them) */
  prompt?: readonly number[];
  /** random numbers for temperature > 0 (default: seeded with 0) */
  rng?: Prng;
}

export interface DecodingResult {
  language: string;
  /** the sampled tokens, without the start sequence and <|endoftext|> */
  tokens: number[];
  text: string;
  avgLogprob: number;
  noSpeechProb: number;
  temperature: number;
  compressionRatio: number;
}

export function isMultilingual(nVocab: number): boolean {
  return nVocab >= 51865;
}

/** The language tokens a model has: n_vocab − 51765 − (1 if multilingual). */
export function numLanguages(nVocab: number): number {
  return nVocab - 51765 - (isMultilingual(nVocab) ? 1 : 0);
}

/** utils.compression_ratio: UTF-8 bytes over zlib-compressed bytes. */
export function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length / zlib.deflateSync(bytes).length;
}

/** The sorted ids SuppressTokens masks (DecodingTask._get_suppress_tokens). */
export function suppressTokenIds(tok: WhisperTokenizer, requested: readonly number[] = [-1]): number[] {
  const ids = requested.filter((t) => t >= 0);
  if (requested.includes(-1)) ids.push(...tok.nonSpeechTokens());
  ids.push(tok.transcribe, tok.translate, tok.sot, tok.sotPrev, tok.sotLm, tok.noSpeech);
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** log-softmax of row at `index`, in float64, over the entries that are not −∞. */
function logSoftmaxAt(row: Float32Array, index: number): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return row[index]! - max - Math.log(sum);
}

/** First index of the largest value (torch.argmax). */
function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Index drawn from softmax(row / temperature), in float64. */
function sample(row: Float32Array, temperature: number, rng: Prng): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  const p = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += p[i] = Math.exp((row[i]! - max) / temperature);
  let u = rng.uniform() * sum;
  for (let i = 0; i < p.length; i++) {
    u -= p[i]!;
    if (u < 0) return i;
  }
  return argmax(row);
}

/** Decodes one encoded window (sessions of batch 1). */
export async function decodeWindow(sessions: WhisperSessions, tok: WhisperTokenizer, audio: EncodedAudio, opts: DecodeOptions = {}): Promise<DecodingResult> {
  if (sessions.batch !== 1) throw new Error(`decodeGreedy decodes one window at a time; the sessions have batch ${sessions.batch}`);
  const dims = sessions.dims;
  if (tok.nVocab !== dims.nVocab) throw new Error(`the tokenizer has ${tok.nVocab} tokens but the model ${dims.nVocab}: rank file and checkpoint do not belong together`);
  const multilingual = isMultilingual(dims.nVocab);
  const language = opts.language ?? 'en';
  const temperature = opts.temperature ?? 0;
  const rng = opts.rng ?? new Prng(0);
  const sot = tok.sotSequence({ multilingual, language, task: opts.task ?? 'transcribe', noTimestamps: true });
  const prompt = opts.prompt?.length ? [tok.sotPrev, ...opts.prompt.slice(-(Math.floor(dims.nTextCtx / 2) - 1))] : [];
  const initial = [...prompt, ...sot];
  const sampleBegin = initial.length;
  const sotIndex = initial.indexOf(tok.sot);
  const sampleLen = opts.sampleLen ?? Math.floor(dims.nTextCtx / 2);
  const suppress = suppressTokenIds(tok, opts.suppressTokens);
  const blank = [...tok.encode(' '), tok.eot];
  const eot = tok.eot;

  const cache = sessions.newCache();
  const tokens = [...initial];
  let sumLogprob = 0;
  let noSpeechProb = NaN;
  // The reference runs the whole start sequence in one forward pass; feeding it one position at a time
  // through the cache computes the same logits.
  let logits: Float32Array = new Float32Array(0);
  for (let i = 0; i < initial.length; i++) {
    logits = await sessions.decodeStep([initial[i]!], cache, audio);
    if (i === sotIndex) noSpeechProb = Math.exp(logSoftmaxAt(logits, tok.noSpeech));
  }
  for (let i = 0; i < sampleLen; i++) {
    if (i > 0) logits = await sessions.decodeStep([tokens[tokens.length - 1]!], cache, audio);
    const row = Float32Array.from(logits);
    if (opts.suppressBlank !== false && tokens.length === sampleBegin) for (const t of blank) row[t] = -Infinity;
    for (const t of suppress) row[t] = -Infinity;
    const next = temperature > 0 ? sample(row, temperature, rng) : argmax(row);
    sumLogprob += logSoftmaxAt(row, next);
    tokens.push(next);
    if (next === eot || tokens.length > dims.nTextCtx) break;
  }
  const end = tokens.indexOf(eot, sampleBegin);
  const sampled = tokens.slice(sampleBegin, end < 0 ? tokens.length : end);
  const text = tok.decode(sampled).trim();
  return {
    language,
    tokens: sampled,
    text,
    avgLogprob: sumLogprob / (sampled.length + 1),
    noSpeechProb,
    temperature,
    compressionRatio: compressionRatio(text),
  };
}
