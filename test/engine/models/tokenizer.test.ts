import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipTokenizer, bytesToUnicode } from '../../../src/engine/models/tokenizer.ts';
import { fixText, htmlUnescape, normalizeClipText } from '../../../src/engine/models/text-normalize.ts';
import { fixture } from '../../helpers/fixtures.ts';

/** Minimal .npy reader for the int64 reference tokens (v1/v2 header, '<i8', C order). */
function readInt64Npy(file: string): { shape: number[]; data: BigInt64Array } {
  const buf = readFileSync(file);
  expect(buf.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY');
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  expect(header).toMatch(/'descr':\s*'<i8'/);
  expect(header).toMatch(/'fortran_order':\s*False/);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1]!
    .split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const off = start + headerLen;
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = new Uint8Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + off + count * 8));
  return { shape, data: new BigInt64Array(bytes.buffer) };
}

const cases = JSON.parse(readFileSync(fixture('cases', 'cases.json'), 'utf8')) as { prompts: string[] };

let tok: ClipTokenizer;
beforeAll(async () => {
  tok = await ClipTokenizer.load(fixture('clip-openai'));
});

/** ids between SOT and EOT, as in the spec table */
const wrapped = (text: string): number[] => [tok.sotId, ...tok.encode(text), tok.eotId];

describe('ClipTokenizer vs. the official tokens.npy', () => {
  it('reproduces all six fixture rows exactly (all 77 columns)', () => {
    const ref = readInt64Npy(fixture('cases', 'tokens.npy'));
    expect(ref.shape).toEqual([6, 77]);
    expect(cases.prompts).toHaveLength(6);
    const out = tok.tokenize(cases.prompts);
    expect(out.shape).toEqual([6, 77]);
    expect(out.ids).toBeInstanceOf(BigInt64Array);
    for (let r = 0; r < 6; r++) {
      const got = Array.from(out.ids.subarray(r * 77, r * 77 + 77), Number);
      const want = Array.from(ref.data.subarray(r * 77, r * 77 + 77), Number);
      expect(got, `row ${r}: ${JSON.stringify(cases.prompts[r])}`).toEqual(want);
    }
  });

  it('flags only the over-long prompt as truncated and keeps EOT in the last slot', () => {
    const out = tok.tokenize(cases.prompts);
    expect(out.truncated).toEqual([false, false, false, false, false, true]);
    expect(out.ids[5 * 77 + 76]).toBe(49407n);
    expect(tok.encode(cases.prompts[5]!).length).toBeGreaterThan(75);
  });

  it('gives the same tokens from the clip-hf files', async () => {
    const hf = await ClipTokenizer.load(fixture('clip-hf'));
    expect(Array.from(hf.tokenize(cases.prompts).ids)).toEqual(Array.from(tok.tokenize(cases.prompts).ids));
  });
});

describe('vocabulary and special ids', () => {
  it('has the official ids', () => {
    expect(tok.sotId).toBe(49406);
    expect(tok.eotId).toBe(49407);
    expect(tok.vocabSize).toBe(49408);
  });

  it('bytes_to_unicode matches the spec', () => {
    const table = bytesToUnicode();
    expect(table).toHaveLength(256);
    expect(new Map(table).get(0x20)).toBe('\u0120');
    expect(new Map(table).get(0x0a)).toBe('\u010a');
    expect(table[0]).toEqual([0x21, '!']);
    expect(table[187]).toEqual([0xff, '\u00ff']);
    expect(table[188]).toEqual([0x00, '\u0100']);
  });

  it('builds the same vocabulary from the merges alone (official construction)', () => {
    const merges = readFileSync(fixture('clip-openai', 'merges.txt'), 'utf8');
    const fromMerges = ClipTokenizer.fromFiles(null, merges);
    expect(fromMerges.vocabSize).toBe(49408);
    expect(fromMerges.sotId).toBe(49406);
    expect(fromMerges.eotId).toBe(49407);
    expect(fromMerges.encode('a</w>')).toEqual(tok.encode('a</w>'));
    expect(Array.from(fromMerges.tokenize(cases.prompts).ids)).toEqual(Array.from(tok.tokenize(cases.prompts).ids));
    const vocab = JSON.parse(readFileSync(fixture('clip-openai', 'vocab.json'), 'utf8')) as Record<string, number>;
    expect(vocab['a</w>']).toBe(320);
    expect(vocab['in']).toBe(512);
    expect(vocab['jekyll</w>']).toBe(49405);
  });
});

describe('OpenAI bpe_simple_vocab_16e6.txt(.gz) folders', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'clip-bpe-'));
    // OpenAI's file: a different header line and ~213k unused merges after the first 48,894.
    const lines = readFileSync(fixture('clip-openai', 'merges.txt'), 'utf8').split('\n');
    lines[0] = '"bpe_simple_vocab_16e6.txt#version: 0.2';
    const body = lines.filter((l) => l !== '').join('\n') + '\nz z\nq q\n';
    writeFileSync(path.join(dir, 'bpe_simple_vocab_16e6.txt.gz'), gzipSync(Buffer.from(body, 'utf8')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the gzip file without vocab.json, ignoring merges past 48,894', async () => {
    const t = await ClipTokenizer.load(dir);
    expect(t.vocabSize).toBe(49408);
    expect(Array.from(t.tokenize(cases.prompts).ids)).toEqual(Array.from(tok.tokenize(cases.prompts).ids));
  });

  it('prefers merges.txt and uses vocab.json when present', async () => {
    copyFileSync(fixture('clip-openai', 'vocab.json'), path.join(dir, 'vocab.json'));
    const t = await ClipTokenizer.load(dir);
    expect(wrappedWith(t, 'a photo of a cat')).toEqual([49406, 320, 1125, 539, 320, 2368, 49407]);
  });
});

const wrappedWith = (t: ClipTokenizer, text: string): number[] => [t.sotId, ...t.encode(text), t.eotId];

describe('spec 1.7 test vectors', () => {
  const vectors: Array<[string, number[]]> = [
    ['a diagram', [49406, 320, 22697, 49407]],
    ['a dog', [49406, 320, 1929, 49407]],
    ['a cat', [49406, 320, 2368, 49407]],
    ['a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407]],
    ['Hello, World!', [49406, 3306, 267, 1002, 256, 49407]],
    ['a painting of a red fox in the snow', [49406, 320, 3086, 539, 320, 736, 3240, 530, 518, 2583, 49407]],
    ["It's 2024", [49406, 585, 568, 273, 271, 273, 275, 49407]],
    ['naïve café 東京', [49406, 1097, 35689, 563, 15304, 48338, 21078, 361, 49407]],
    ['emoji 🦊🔥', [49406, 16327, 6040, 232, 3016, 49407]],
    ['  multiple\n\tspaces  ', [49406, 6470, 9006, 49407]],
    [
      'It’s “quoted” ＦＵＬＬ width &amp; ligature ﬁne',
      [49406, 585, 568, 257, 27706, 257, 1476, 23571, 261, 19915, 4490, 3797, 49407],
    ],
    ['<|endoftext|> inside', [49406, 49407, 2912, 49407]],
  ];
  it.each(vectors)('%j', (text, ids) => {
    expect(wrapped(text)).toEqual(ids);
  });

  it("encodes single characters with '</w>' ('a' -> 320)", () => {
    expect(tok.encode('a')).toEqual([320]);
    expect(tok.encode('!')).toEqual([256]);
    expect(tok.encode('<|startoftext|>')).toEqual([49406]);
  });

  it('pads with zeros and supports other context lengths', () => {
    const out = tok.tokenize(['a cat'], 8);
    expect(Array.from(out.ids, Number)).toEqual([49406, 320, 2368, 49407, 0, 0, 0, 0]);
    const cut = tok.tokenize(['a photo of a cat'], 4);
    expect(Array.from(cut.ids, Number)).toEqual([49406, 320, 1125, 49407]);
    expect(cut.truncated).toEqual([true]);
    const exact = tok.tokenize(['a photo of a cat'], 7);
    expect(exact.truncated).toEqual([false]);
    expect(tok.tokenize([]).shape).toEqual([0, 77]);
  });
});

describe('text normalisation (ftfy + html.unescape + whitespace + lower)', () => {
  it('unescapes HTML like Python html.unescape', () => {
    expect(htmlUnescape('&amp; &lt; &gt; &quot; &#39; &#x41; &#65; &nbsp;')).toBe('& < > " \' A A \u00a0');
    expect(htmlUnescape('AT&T &copy2024 &notit; &eacute &#128; &#0; &#x110000; &#x1c;x &bogus;')).toBe(
      'AT&T ©2024 ¬it; é € \ufffd \ufffd x &bogus;',
    );
    expect(htmlUnescape('&constructor; &toString;')).toBe('&constructor; &toString;');
    expect(htmlUnescape('&NotEqualTilde;')).toBe('\u2242\u0338');
  });

  it('applies the ftfy fixes used on prompts', () => {
    expect(fixText('ＬＯＵＤ　ＮＯＩＳＥＳ')).toBe('LOUD NOISES');
    expect(fixText('Broken text&hellip; it&#x2019;s ﬂubberiﬁc!')).toBe("Broken text… it's flubberific!");
    expect(fixText('P&EACUTE;REZ &amp;amp;amp;')).toBe('PÉREZ &');
    expect(fixText('a < b &amp; c')).toBe('a < b &amp; c'); // '<' turns ftfy's unescape off
    expect(fixText('\x1b[36mblue\x1b[0m\u0000\ufeff')).toBe('blue');
    expect(fixText('e\u0301\x85')).toBe('\u00e9\u2026');
    expect(fixText('\ud800x')).toBe('\ufffdx');
  });

  it('cleans whitespace with the Python set and lower-cases like str.lower', () => {
    expect(normalizeClipText(' \u3000A\u2003\u00a0B\t\r\n ')).toBe('a b');
    expect(normalizeClipText('İSTANBUL ΟΔΟΣ')).toBe('i\u0307stanbul οδος');
    expect(normalizeClipText('a&#xfeff;b')).toBe('ab'); // ftfy unescapes, then drops the BOM
    expect(normalizeClipText('a < b&#xfeff;c')).toBe('a < b\ufeffc'); // '<': only html.unescape, after ftfy
    expect(normalizeClipText('&lt;3 a&amp;b')).toBe('<3 a&b');
    expect(normalizeClipText('AT&T &copy2024 caf&eacute')).toBe('at&t \u00a92024 caf\u00e9');
  });
});

describe('pre-tokenisation corner cases (ids from the official tokenizer + ftfy 6.3.1)', () => {
  const vectors: Array<[string, number[]]> = [
    ['a < b&#xfeff;c', [320, 283, 321, 171, 119, 379, 322]], // U+FEFF is not whitespace in Python
    ['<|\u017ftartoftext|> x', [27, 91, 129, 123, 2002, 6659, 18169, 91, 285, 343]], // IGNORECASE: one word
    ['x\u0345y z', [343, 344, 345]], // U+0345 matches no alternative under IGNORECASE: dropped, splits words
    ['a\u0345\u0345!', [320, 256]],
    ['a < b &amp;amp; c', [320, 283, 321, 261, 322]],
    ['P&EACUTE;REZ', [43167, 15192]],
    ['Hello,\u00a0World!\u2003\u3000ok', [3306, 267, 1002, 256, 2481]],
    ['AT&T &copy2024 caf&eacute', [536, 261, 339, 5811, 273, 271, 273, 275, 15304]],
  ];
  it.each(vectors)('%j', (text, ids) => {
    expect(tok.encode(text)).toEqual(ids);
  });
});

describe('decode', () => {
  it('round-trips ordinary text', () => {
    for (const text of [
      'a painting of an apple in a fruit bowl',
      'café crème brûlée über élan 水墨画',
      'emoji 🦊🔥 and hashtags',
    ]) {
      expect(tok.decode(tok.encode(text))).toBe(normalizeClipText(text) + ' ');
    }
    // Every pre-token ends in '</w>', so punctuation comes back space-separated (as in the official decode).
    const text = "Hello, World! It's 3:00 PM #1";
    const squash = (s: string) => s.replace(/\s+/g, '');
    expect(squash(tok.decode(tok.encode(text)))).toBe(squash(normalizeClipText(text)));
    expect(tok.decode(tok.encode('hello, world!'))).toBe('hello , world ! ');
  });

  it('decodes like SimpleTokenizer.decode ("</w>" -> space, specials as text)', () => {
    expect(tok.decode([320, 2368])).toBe('a cat ');
    expect(tok.decode([49406, 320, 49407])).toBe('<|startoftext|>a <|endoftext|>');
    expect(() => tok.decode([49408])).toThrow(RangeError);
  });
});

describe('speed', () => {
  it('tokenizes 1000 prompts quickly', () => {
    const words = cases.prompts.join(' ').split(/\s+/);
    const prompts = Array.from({ length: 1000 }, (_, i) =>
      Array.from({ length: 12 }, (_, j) => words[(i * 7 + j * 13) % words.length]).join(' ') + ` ${i}`,
    );
    const t0 = performance.now();
    const out = tok.tokenize(prompts);
    const ms = performance.now() - t0;
    expect(out.shape).toEqual([1000, 77]);
    console.log(`tokenized 1000 prompts in ${ms.toFixed(1)} ms`);
  });
});
