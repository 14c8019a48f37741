import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LANGUAGE_CODES, TokenizerError, WhisperTokenizer } from '../../../src/engine/whisper/tokenizer.ts';
import { compressionRatio, numLanguages, suppressTokenIds } from '../../../src/engine/whisper/decoding.ts';
import { whisperFixture, whisperRankFile } from '../../helpers/fixtures.ts';

/** A rank file of the 256 bytes followed by the given merges (as text). */
function toyRanks(merges: string[]): string {
  const lines = Array.from({ length: 256 }, (_, i) => `${Buffer.from([i]).toString('base64')} ${i}`);
  merges.forEach((m, i) => lines.push(`${Buffer.from(m, 'utf8').toString('base64')} ${256 + i}`));
  return `${lines.join('\n')}\n`;
}

describe('WhisperTokenizer (toy ranks)', () => {
  const tok = new WhisperTokenizer(toyRanks(['ab', 'bc', 'abc', ' a', ' abc']), 2);

  it('merges the lowest-ranked adjacent pair first, leftmost on ties', () => {
    // "abc": ab (256) beats bc (257), then ab+c = abc (258)
    expect(tok.encode('abc')).toEqual([258]);
    // "bcab": bc and ab both present; ab is ranked first → b, c, ab → bc (257), ab (256)
    expect(tok.encode('bcab')).toEqual([257, 256]);
    expect(tok.encode('xabc abc')).toEqual([120, 258, 260]);
    expect(tok.encode('')).toEqual([]);
  });

  it('splits like tiktoken: contractions, letters, numbers, punctuation and trailing spaces', () => {
    const pieces = (s: string) => tok.encode(s).map((id) => tok.decode([id]));
    expect(pieces("it's 42!!")).toEqual(['i', 't', "'", 's', ' ', '4', '2', '!', '!']);
    expect(tok.decode(tok.encode('a  \n b\u0085c'))).toBe('a  \n b\u0085c');
  });

  it('numbers the special tokens after the ranks, languages first', () => {
    expect(tok.eot).toBe(261);
    expect(tok.sot).toBe(262);
    expect(tok.languageToken('en')).toBe(263);
    expect(tok.languageToken('zh')).toBe(264);
    expect(() => tok.languageToken('de')).toThrow(TokenizerError);
    expect([tok.translate, tok.transcribe, tok.sotLm, tok.sotPrev, tok.noSpeech, tok.noTimestamps, tok.timestampBegin]).toEqual([265, 266, 267, 268, 269, 270, 271]);
    expect(tok.nVocab).toBe(272 + 1500);
    expect(tok.sotSequence({ multilingual: true, language: 'zh', task: 'translate', noTimestamps: true })).toEqual([262, 264, 265, 270]);
    expect(tok.sotSequence({ multilingual: false, noTimestamps: true })).toEqual([262, 270]);
  });

  it('decodes specials as text, drops timestamps, replaces broken UTF-8, refuses special text in input', () => {
    expect(tok.decode([97, tok.eot, tok.timestampBegin + 3, 98])).toBe('a<|endoftext|>b');
    expect(tok.decode([0xe4, 0xb8])).toBe('\ufffd');
    expect(() => tok.encode('say <|endoftext|>')).toThrow(/special token <\|endoftext\|>/);
    expect(tok.encode('<|not special|>').length).toBeGreaterThan(0);
  });

  it('refuses a malformed rank file', () => {
    expect(() => new WhisperTokenizer('YQ== 0\nYg== 5\n')).toThrow(/bad line/);
    expect(() => WhisperTokenizer.load('/nonexistent/multilingual.tiktoken')).toThrow(/cannot read/);
  });

  it('language counts follow the vocabulary size', () => {
    expect(LANGUAGE_CODES).toHaveLength(100);
    expect(numLanguages(51865)).toBe(99);
    expect(numLanguages(51866)).toBe(100);
    expect(numLanguages(51864)).toBe(99);
    expect(compressionRatio('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')).toBeGreaterThan(2);
  });
});

const rankFile = whisperRankFile();
const cases = JSON.parse(fs.readFileSync(whisperFixture('cases', 'cases.json'), 'utf8')) as {
  sot_sequence_including_notimestamps: number[];
  tokenizer: { encode: Record<string, number[]> };
  greedy: { tokens: number[]; text: string };
};

describe.skipIf(!rankFile)('WhisperTokenizer with the reference multilingual.tiktoken', () => {
  const tok = rankFile ? WhisperTokenizer.load(rankFile) : (undefined as never);

  it('encodes the fixture texts to exactly the official ids and back', () => {
    for (const [text, ids] of Object.entries(cases.tokenizer.encode)) {
      expect(tok.encode(text), text).toEqual(ids);
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it('has the reference vocabulary, start sequence and suppressed tokens', () => {
    expect(tok.nVocab).toBe(51865);
    expect(tok.sotSequence({ multilingual: true, language: 'en', task: 'transcribe', noTimestamps: true })).toEqual(cases.sot_sequence_including_notimestamps);
    expect(tok.decode(cases.greedy.tokens)).toBe(cases.greedy.text);
    // The list Hugging Face's generation configs copy from the reference for the multilingual models.
    const nonSpeech = tok.nonSpeechTokens();
    expect(nonSpeech.slice(0, 8)).toEqual([1, 2, 7, 8, 9, 10, 14, 25]);
    expect(nonSpeech.slice(-4)).toEqual([42863, 47425, 49870, 50254]);
    expect(nonSpeech).toHaveLength(82);
    // plus transcribe, translate, sot, sot_prev, sot_lm and no_speech
    expect(suppressTokenIds(tok)).toEqual([...nonSpeech, 50258, 50358, 50359, 50360, 50361, 50362]);
    expect(suppressTokenIds(tok, [5, 5, 3])).toEqual([3, 5, 50258, 50358, 50359, 50360, 50361, 50362]);
  });
});
