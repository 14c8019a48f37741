/**
 * CLIP byte-level BPE tokenizer, a port of openai/CLIP `clip/simple_tokenizer.py` + `clip.tokenize`
 * (model-spec 1.7). Ids match the official tokenizer; text clean-up is in text-normalize.ts.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PY_WHITESPACE, normalizeClipText } from './text-normalize.ts';

export const SOT_TOKEN = '<|startoftext|>';
export const EOT_TOKEN = '<|endoftext|>';
const END_OF_WORD = '</w>';
/** The official tokenizer keeps merges[1 : 49152-256-2+1] of the merges file: 48,894 merge rules. */
const OFFICIAL_MERGE_COUNT = 49152 - 256 - 2;

/**
 * `bytes_to_unicode()`: the 188 printable bytes map to the same code point, the other 68 (in ascending order)
 * to U+0100, U+0101, ... The returned list is in the official dict order (printable first, then the others).
 */
export function bytesToUnicode(): Array<[byte: number, char: string]> {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const set = new Set(printable);
  const out: Array<[number, string]> = printable.map((b) => [b, String.fromCharCode(b)]);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!set.has(b)) out.push([b, String.fromCharCode(256 + n++)]);
  }
  return out;
}

const BYTE_PAIRS = bytesToUnicode();
const BYTE_TO_CHAR: readonly string[] = (() => {
  const a = new Array<string>(256);
  for (const [b, c] of BYTE_PAIRS) a[b] = c;
  return a;
})();
const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_PAIRS.map(([b, c]) => [c, b]));

/** A literal as Python `regex` IGNORECASE sees it: ASCII letters in either case, plus 'ſ' (U+017F) for 's'. */
function caseless(literal: string): string {
  let out = '';
  for (const c of literal) {
    if (c === 's') out += '[sS\u017f]';
    else if (/[a-z]/.test(c)) out += `[${c}${c.toUpperCase()}]`;
    else out += c.replace(/[|\\^$.*+?()[\]{}]/g, '\\$&');
  }
  return out;
}

/**
 * The official pattern (Python `regex`, IGNORECASE) without JS's `i` flag, whose Unicode case folding would
 * differ: the literals are spelled case-insensitively instead, `\s` is Python's whitespace set (so U+FEFF is not
 * a separator), and U+0345, which Python's IGNORECASE class matching leaves out of every alternative (it is
 * skipped, splitting words), is left out here too.
 */
const PRETOKENIZE = new RegExp(
  [
    ...[SOT_TOKEN, EOT_TOKEN, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map(caseless),
    '\\p{L}+',
    '\\p{N}',
    `[^${PY_WHITESPACE}\\p{L}\\p{N}\\u0345]+`,
  ].join('|'),
  'gu',
);

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Entries kept in the per-word cache before it is cleared (keeps a long-running bot bounded). */
const CACHE_LIMIT = 200_000;

export interface TokenizeResult {
  /** Row-major [texts.length, contextLength] int64 ids: SOT, BPE ids, EOT, then zero padding. */
  ids: BigInt64Array;
  shape: [number, number];
  /** true where the prompt did not fit and was cut (the last slot then holds EOT). */
  truncated: boolean[];
}

function parseMerges(text: string, limit: number): Array<[string, string]> {
  const lines = text.split('\n');
  // Line 0 is the header ("#version: 0.2", or "bpe_simple_vocab_16e6.txt#version: 0.2" in OpenAI's file).
  const start = lines.length > 0 && lines[0]!.includes('#version') ? 1 : 0;
  const merges: Array<[string, string]> = [];
  for (let i = start; i < lines.length && merges.length < limit; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new Error(`CLIP merges: line ${i + 1} is not two space-separated symbols: ${JSON.stringify(line)}`);
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  return merges;
}

/** The official vocabulary built from the merges: bytes, bytes+'</w>', one token per merge, SOT, EOT. */
function vocabFromMerges(merges: ReadonlyArray<[string, string]>): Map<string, number> {
  const list: string[] = BYTE_PAIRS.map(([, c]) => c);
  for (const [, c] of BYTE_PAIRS) list.push(c + END_OF_WORD);
  for (const [a, b] of merges) list.push(a + b);
  list.push(SOT_TOKEN, EOT_TOKEN);
  const vocab = new Map<string, number>();
  list.forEach((tok, id) => vocab.set(tok, id)); // later duplicates win, as in dict(zip(vocab, range(...)))
  return vocab;
}

async function readMaybeGzip(file: string): Promise<string> {
  const buf = await readFile(file);
  const raw = buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
  return new TextDecoder('utf-8', { fatal: true }).decode(raw);
}

export class ClipTokenizer {
  readonly sotId: number;
  readonly eotId: number;
  readonly vocabSize: number;

  private readonly encoder: ReadonlyMap<string, number>;
  private readonly decoder: ReadonlyMap<number, string>;
  /** Merge rank keyed by "left right" (symbols never contain a space). */
  private readonly ranks: ReadonlyMap<string, number>;
  /** Pre-token (before byte encoding) -> BPE ids. */
  private cache = new Map<string, readonly number[]>();

  private constructor(vocab: Map<string, number>, merges: ReadonlyArray<[string, string]>) {
    this.encoder = vocab;
    const decoder = new Map<number, string>();
    let maxId = -1;
    for (const [tok, id] of vocab) {
      decoder.set(id, tok);
      if (id > maxId) maxId = id;
    }
    this.decoder = decoder;
    this.vocabSize = maxId + 1;
    const ranks = new Map<string, number>();
    // Later duplicates win, as in dict(zip(merges, range(len(merges)))).
    merges.forEach(([a, b], i) => ranks.set(`${a} ${b}`, i));
    this.ranks = ranks;
    const sot = vocab.get(SOT_TOKEN);
    const eot = vocab.get(EOT_TOKEN);
    if (sot === undefined || eot === undefined) {
      throw new Error(`CLIP vocab lacks ${SOT_TOKEN} or ${EOT_TOKEN}`);
    }
    this.sotId = sot;
    this.eotId = eot;
  }

  /**
   * Loads from a model folder: `vocab.json` (optional) plus `merges.txt`, or OpenAI's
   * `bpe_simple_vocab_16e6.txt(.gz)` when there is no merges.txt. Without vocab.json the vocabulary is built
   * from the merges the official way.
   */
  static async load(dir: string): Promise<ClipTokenizer> {
    const names = new Set(await readdir(dir));
    const mergesName = ['merges.txt', 'bpe_simple_vocab_16e6.txt.gz', 'bpe_simple_vocab_16e6.txt'].find((n) =>
      names.has(n),
    );
    if (!mergesName) {
      throw new Error(`${dir}: no merges.txt or bpe_simple_vocab_16e6.txt(.gz) for the CLIP tokenizer`);
    }
    const merges = await readMaybeGzip(path.join(dir, mergesName));
    const vocab = names.has('vocab.json') ? await readFile(path.join(dir, 'vocab.json'), 'utf8') : null;
    return ClipTokenizer.fromFiles(vocab, merges);
  }

  /** From the text of vocab.json (or null to build it from the merges) and of the merges file. */
  static fromFiles(vocabJson: string | null, mergesTxt: string): ClipTokenizer {
    let vocab: Map<string, number> | null = null;
    let limit = OFFICIAL_MERGE_COUNT;
    if (vocabJson !== null) {
      const parsed: unknown = JSON.parse(vocabJson);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('CLIP vocab.json must be an object of token -> id');
      }
      vocab = new Map();
      for (const [tok, id] of Object.entries(parsed as Record<string, unknown>)) {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
          throw new Error(`CLIP vocab.json: bad id for ${JSON.stringify(tok)}`);
        }
        vocab.set(tok, id);
      }
      // Merges beyond what the vocabulary holds are never used (HF reads merges[1:48895] for CLIP).
      limit = Math.max(0, vocab.size - 2 * 256 - 2);
    }
    const merges = parseMerges(mergesTxt, limit);
    return new ClipTokenizer(vocab ?? vocabFromMerges(merges), merges);
  }

  /** BPE ids of the cleaned text, without SOT/EOT (`SimpleTokenizer.encode`). */
  encode(text: string): number[] {
    const out: number[] = [];
    const clean = normalizeClipText(text);
    for (const m of clean.matchAll(PRETOKENIZE)) {
      const ids = this.wordIds(m[0]);
      for (const id of ids) out.push(id);
    }
    return out;
  }

  /**
   * `clip.tokenize(texts, contextLength, truncate=True)` as int64, plus which prompts were cut. Too long
   * sequences keep their first contextLength ids with EOT forced into the last slot.
   */
  tokenize(texts: string[], contextLength = 77): TokenizeResult {
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new RangeError(`contextLength must be a positive integer, got ${contextLength}`);
    }
    const ids = new BigInt64Array(texts.length * contextLength);
    const truncated: boolean[] = [];
    texts.forEach((text, row) => {
      const tokens = [this.sotId, ...this.encode(text), this.eotId];
      const cut = tokens.length > contextLength;
      if (cut) {
        tokens.length = contextLength;
        tokens[contextLength - 1] = this.eotId;
      }
      truncated.push(cut);
      const base = row * contextLength;
      for (let i = 0; i < tokens.length; i++) ids[base + i] = BigInt(tokens[i]!);
    });
    return { ids, shape: [texts.length, contextLength], truncated };
  }

  /**
   * `SimpleTokenizer.decode`: concatenates the tokens, maps byte characters back to bytes, decodes UTF-8
   * (invalid bytes -> U+FFFD) and turns every '</w>' into a space. Special and padding ids are decoded too
   * (SOT/EOT as their text, 0 as '!'), so strip them first if unwanted.
   */
  decode(ids: number[]): string {
    let joined = '';
    for (const id of ids) {
      const tok = this.decoder.get(id);
      if (tok === undefined) throw new RangeError(`CLIP decode: unknown token id ${id}`);
      joined += tok;
    }
    const bytes = new Uint8Array(joined.length);
    let n = 0;
    for (const ch of joined) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b === undefined) throw new Error(`CLIP decode: ${JSON.stringify(ch)} is not a byte character`);
      bytes[n++] = b;
    }
    return utf8Decoder.decode(bytes.subarray(0, n)).replaceAll(END_OF_WORD, ' ');
  }

  private wordIds(word: string): readonly number[] {
    const cached = this.cache.get(word);
    if (cached) return cached;
    let ids: number[];
    if (word === SOT_TOKEN) ids = [this.sotId];
    else if (word === EOT_TOKEN) ids = [this.eotId];
    else {
      ids = this.bpe(word).map((sym) => {
        const id = this.encoder.get(sym);
        if (id === undefined) throw new Error(`CLIP vocab lacks BPE symbol ${JSON.stringify(sym)}`);
        return id;
      });
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }

  /** BPE of one pre-token: byte characters, '</w>' on the last one, then merges lowest rank first. */
  private bpe(word: string): string[] {
    const bytes = utf8Encoder.encode(word);
    let symbols: string[] = new Array<string>(bytes.length);
    for (let i = 0; i < bytes.length; i++) symbols[i] = BYTE_TO_CHAR[bytes[i]!]!;
    if (symbols.length === 0) return [];
    symbols[symbols.length - 1] += END_OF_WORD;
    const ranks = this.ranks;
    while (symbols.length > 1) {
      let best = Infinity;
      let first = '';
      let second = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          first = symbols[i]!;
          second = symbols[i + 1]!;
        }
      }
      if (best === Infinity) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i + 1 < symbols.length && symbols[i] === first && symbols[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(symbols[i]!);
          i += 1;
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
