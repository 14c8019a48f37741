/**
 * Whisper's tokenizer (whisper/tokenizer.py): tiktoken byte-level BPE over the reference's rank file
 * (multilingual.tiktoken, or gpt2.tiktoken for the English-only models), followed by the special
 * tokens in the reference's order: <|endoftext|>, <|startoftranscript|>, one per language,
 * <|translate|>, <|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>, then
 * the 1501 timestamps <|0.00|> … <|30.00|>.
 */
import fs from 'node:fs';

/** Language codes in the reference's order; a model with n languages uses the first n. */
export const LANGUAGE_CODES = (
  'en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no th ur hr bg lt la mi ml cy ' +
  'sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo ' +
  'uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue'
).split(' ');

export type WhisperTask = 'transcribe' | 'translate';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

// tiktoken's pattern for these encodings, with \s spelled as Unicode White_Space as Rust's regex reads it.
const PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
};

export class WhisperTokenizer {
  /** byte string (one char per byte) → rank */
  private readonly ranks = new Map<string, number>();
  private readonly byRank: Uint8Array[] = [];
  readonly specials = new Map<string, number>();
  private readonly specialText: string[] = [];
  private readonly cache = new Map<string, number[]>();
  readonly languages: readonly string[];

  /**
   * `rankText`: the .tiktoken file (one "base64 rank" per line). `numLanguages`: n_vocab − 51765 −
   * (1 if multilingual), i.e. 99 for every multilingual model but large-v3 (100).
   */
  constructor(rankText: string, numLanguages = 99) {
    for (const line of rankText.split('\n')) {
      if (!line) continue;
      const [b64, rank] = line.split(' ');
      const r = Number(rank);
      if (b64 === undefined || !Number.isInteger(r) || r !== this.byRank.length) {
        throw new TokenizerError(`rank file: bad line ${JSON.stringify(line.slice(0, 40))} (expected "base64 rank" with ranks 0, 1, 2, ...)`);
      }
      const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
      this.ranks.set(latin1(bytes), r);
      this.byRank.push(bytes);
    }
    if (this.ranks.size !== this.byRank.length) throw new TokenizerError('rank file: a token appears twice');
    if (numLanguages < 0 || numLanguages > LANGUAGE_CODES.length) throw new TokenizerError(`unsupported number of languages ${numLanguages}`);
    this.languages = LANGUAGE_CODES.slice(0, numLanguages);
    const names = [
      '<|endoftext|>',
      '<|startoftranscript|>',
      ...this.languages.map((l) => `<|${l}|>`),
      '<|translate|>',
      '<|transcribe|>',
      '<|startoflm|>',
      '<|startofprev|>',
      '<|nospeech|>',
      '<|notimestamps|>',
      ...Array.from({ length: 1501 }, (_, i) => `<|${(i * 0.02).toFixed(2)}|>`),
    ];
    for (const n of names) {
      this.specials.set(n, this.byRank.length + this.specialText.length);
      this.specialText.push(n);
    }
  }

  static load(file: string, numLanguages = 99): WhisperTokenizer {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new TokenizerError(`cannot read the tokenizer rank file ${file}: ${(err as Error).message}`);
    }
    return new WhisperTokenizer(text, numLanguages);
  }

  get nVocab(): number {
    return this.byRank.length + this.specialText.length;
  }

  private special(name: string): number {
    return this.specials.get(name)!;
  }

  get eot(): number {
    return this.special('<|endoftext|>');
  }
  get sot(): number {
    return this.special('<|startoftranscript|>');
  }
  get translate(): number {
    return this.special('<|translate|>');
  }
  get transcribe(): number {
    return this.special('<|transcribe|>');
  }
  get sotLm(): number {
    return this.special('<|startoflm|>');
  }
  get sotPrev(): number {
    return this.special('<|startofprev|>');
  }
  get noSpeech(): number {
    return this.special('<|nospeech|>');
  }
  get noTimestamps(): number {
    return this.special('<|notimestamps|>');
  }
  get timestampBegin(): number {
    return this.special('<|0.00|>');
  }

  languageToken(code: string): number {
    const t = this.specials.get(`<|${code}|>`);
    if (t === undefined || !this.languages.includes(code)) throw new TokenizerError(`language "${code}" is not one of this model's ${this.languages.length} languages`);
    return t;
  }

  /**
   * The start sequence: <|startoftranscript|>, then for multilingual models the language and task
   * tokens (English-only models take neither), then <|notimestamps|> when asked.
   */
  sotSequence(opts: { multilingual: boolean; language?: string; task?: WhisperTask; noTimestamps?: boolean }): number[] {
    const seq = [this.sot];
    if (opts.multilingual) {
      seq.push(this.languageToken(opts.language ?? 'en'));
      seq.push((opts.task ?? 'transcribe') === 'transcribe' ? this.transcribe : this.translate);
    }
    if (opts.noTimestamps) seq.push(this.noTimestamps);
    return seq;
  }

  /** tiktoken's encode(text): ordinary text only; special-token text in it is refused as tiktoken does. */
  encode(text: string): number[] {
    for (const m of text.matchAll(/<\|[^|<>]*\|>/g)) {
      if (this.specials.has(m[0])) throw new TokenizerError(`the text contains the special token ${m[0]}`);
    }
    const out: number[] = [];
    for (const m of text.matchAll(PATTERN)) {
      const piece = m[0];
      let ids = this.cache.get(piece);
      if (!ids) {
        ids = this.bpe(new TextEncoder().encode(piece));
        if (this.cache.size < 50_000) this.cache.set(piece, ids);
      }
      out.push(...ids);
    }
    return out;
  }

  /** tiktoken's byte-pair merge: repeatedly join the adjacent pair whose join has the lowest rank. */
  private bpe(bytes: Uint8Array): number[] {
    const whole = this.ranks.get(latin1(bytes));
    if (whole !== undefined) return [whole];
    const rankOf = (a: number, b: number): number => this.ranks.get(latin1(bytes.subarray(a, b))) ?? Infinity;
    // starts[i] is where part i begins; pair[i] the rank of joining parts i and i + 1.
    const starts = Array.from({ length: bytes.length + 1 }, (_, i) => i);
    const pair = starts.map((s, i) => (i + 2 < starts.length ? rankOf(s, starts[i + 2]!) : Infinity));
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < pair.length - 1; i++) {
        if (pair[i]! < best) {
          best = pair[i]!;
          at = i;
        }
      }
      if (at < 0) break;
      starts.splice(at + 1, 1);
      pair.splice(at + 1, 1);
      pair[at] = at + 2 < starts.length ? rankOf(starts[at]!, starts[at + 2]!) : Infinity;
      if (at > 0) pair[at - 1] = rankOf(starts[at - 1]!, starts[at + 1]!);
    }
    const ids: number[] = [];
    for (let i = 0; i + 1 < starts.length; i++) {
      const r = this.ranks.get(latin1(bytes.subarray(starts[i]!, starts[i + 1]!)));
      if (r === undefined) throw new TokenizerError(`byte sequence without a rank (the rank file lacks single bytes?)`);
      ids.push(r);
    }
    return ids;
  }

  /** Tokenizer.decode: timestamps dropped, special tokens as their text, invalid UTF-8 replaced by U+FFFD. */
  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    const enc = new TextEncoder();
    for (const id of ids) {
      if (id >= this.timestampBegin) continue;
      if (id < 0 || !Number.isInteger(id)) throw new TokenizerError(`token id ${id} is not in the vocabulary`);
      parts.push(id < this.byRank.length ? this.byRank[id]! : enc.encode(this.specialText[id - this.byRank.length]!));
    }
    return new TextDecoder('utf-8').decode(Buffer.concat(parts));
  }

  /**
   * Tokens that would start speaker tags or non-speech annotations (♪, [..], (..)), suppressed while
   * sampling; basic punctuation stays allowed (Tokenizer.non_speech_tokens).
   */
  nonSpeechTokens(): number[] {
    const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』', ...'<< >> <<< >>> -- --- -( -[ (\' (" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪'.split(' ')];
    const miscellaneous = [...'♩♪♫♬♭♮♯'];
    const result = new Set([this.encode(' -')[0]!, this.encode(" '")[0]!]);
    for (const symbol of [...symbols, ...miscellaneous]) {
      for (const tokens of [this.encode(symbol), this.encode(` ${symbol}`)]) {
        if (tokens.length === 1 || miscellaneous.includes(symbol)) result.add(tokens[0]!);
      }
    }
    return [...result].sort((a, b) => a - b);
  }
}
