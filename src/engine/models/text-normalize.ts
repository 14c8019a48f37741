/**
 * Text clean-up in front of the CLIP BPE tokenizer, following openai/CLIP `simple_tokenizer.py`:
 *
 *   text = ftfy.fix_text(text)
 *   text = html.unescape(html.unescape(text)).strip()
 *   text = re.sub(r'\s+', ' ', text).strip()
 *   text = text.lower()
 *
 * `fixText` ports the parts of ftfy 6 `fix_text` (default config) that matter for prompts: per-line segments,
 * the 'auto' HTML unescape (off from the first line that holds '<'), C1 controls read as Windows-1252, Latin
 * ligatures, full/half width forms, curly quotes, line breaks, lone surrogates, terminal escapes, control
 * characters and NFC, repeated until nothing changes. Mojibake repair (ftfy `fix_encoding`) is NOT ported.
 * `htmlUnescape` is an exact port of Python's `html.unescape` (full HTML5 entity table).
 */
import { HTML5_ENTITIES, HTML5_LEGACY_NO_SEMICOLON } from './html-entities.ts';

const ENTITIES: ReadonlyMap<string, string> = new Map(Object.entries(HTML5_ENTITIES));

/**
 * Characters that Python treats as whitespace (`str.isspace`, `str.strip`, `re`'s `\s`). Unlike JS `\s` it
 * has U+001C..U+001F and U+0085 and lacks U+FEFF. (The `regex` module's `\s`, used by CLIP, lacks U+001C..U+001F,
 * but those cannot survive ftfy + html.unescape, so the difference never shows.)
 */
export const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'g');
const WS_CHARS: ReadonlySet<number> = new Set(
  [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
    0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
    0x2028, 0x2029, 0x202f, 0x205f, 0x3000],
);

/** Python `str.strip()` with no argument (linear time). */
export function pyStrip(text: string): string {
  let a = 0;
  let b = text.length;
  while (a < b && WS_CHARS.has(text.charCodeAt(a))) a++;
  while (b > a && WS_CHARS.has(text.charCodeAt(b - 1))) b--;
  return a === 0 && b === text.length ? text : text.slice(a, b);
}

/** `re.sub(r'\s+', ' ', text).strip()` as in CLIP's `whitespace_clean`. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(WS_RUN, ' '));
}

// ---------------------------------------------------------------------------------------------------------
// Python html.unescape

/** Windows-1252 bytes 0x80..0x9F; the five undefined bytes pass through as the C1 control itself. */
const CP1252_C1 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

function isInvalidCodepoint(n: number): boolean {
  // html._invalid_codepoints
  return (
    (n >= 0x1 && n <= 0x8) ||
    n === 0xb ||
    (n >= 0xe && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) ||
    (n & 0xfffe) === 0xfffe
  );
}

function numericCharref(num: number): string {
  // html._invalid_charrefs: NUL, CR and the Windows-1252 range
  if (num === 0) return '\ufffd';
  if (num === 0x0d) return '\r';
  if (num >= 0x80 && num <= 0x9f) return CP1252_C1[num - 0x80]!;
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(num)) return '';
  return String.fromCodePoint(num);
}

function lookupName(name: string): string | undefined {
  // Python's html5 dict holds 'amp;' and, for legacy names, also 'amp'.
  if (name.endsWith(';')) return ENTITIES.get(name.slice(0, -1));
  return HTML5_LEGACY_NO_SEMICOLON.has(name) ? ENTITIES.get(name) : undefined;
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_m: string, s: string): string {
  if (s[0] === '#') {
    const hex = s[1] === 'x' || s[1] === 'X';
    const digits = s.slice(hex ? 2 : 1).replace(/;$/, '');
    // Long digit strings exceed 0x10FFFF either way; parseInt stays large (or Infinity), which is all we need.
    return numericCharref(parseInt(digits, hex ? 16 : 10));
  }
  const whole = lookupName(s);
  if (whole !== undefined) return whole;
  // Longest prefix that is an entity (names are ASCII, so UTF-16 indices equal code-point indices there).
  for (let x = s.length - 1; x > 1; x--) {
    const hit = lookupName(s.slice(0, x));
    if (hit !== undefined) return hit + s.slice(x);
  }
  return '&' + s;
}

/** Exact port of Python's `html.unescape`. */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, replaceCharref);
}

// ---------------------------------------------------------------------------------------------------------
// ftfy.fix_text

let ftfyEntities: Map<string, string> | undefined;

/** ftfy `HTML_ENTITIES`: every '&name;' plus all-caps variants of lower-case names that are not entities. */
function ftfyEntityTable(): Map<string, string> {
  if (ftfyEntities) return ftfyEntities;
  const table = new Map<string, string>();
  for (const [name, char] of ENTITIES) {
    table.set(`&${name};`, char);
    const semi = `${name};`;
    if (semi === semi.toLowerCase()) {
      const upper = `&${semi.toUpperCase()}`;
      if (htmlUnescape(upper) === upper) table.set(upper, char.toUpperCase());
    }
  }
  ftfyEntities = table;
  return table;
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy `unescape_html`: only ';'-terminated references, plus all-caps Latin ones like '&EACUTE;'. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntityTable();
  return text.replace(FTFY_ENTITY, (m) => {
    const hit = table.get(m);
    if (hit !== undefined) return hit;
    if (m.startsWith('&#')) {
      const u = htmlUnescape(m);
      return u.includes(';') ? m : u;
    }
    return m;
  });
}

const C1_CONTROL = /[\x80-\x9f]/g;
const LIGATURES: ReadonlyMap<string, string> = new Map([
  ['\u0132', 'IJ'], ['\u0133', 'ij'], ['\u0149', '\u02bcn'],
  ['\u01f1', 'DZ'], ['\u01f2', 'Dz'], ['\u01f3', 'dz'],
  ['\u01c4', 'D\u017d'], ['\u01c5', 'D\u017e'], ['\u01c6', 'd\u017e'],
  ['\u01c7', 'LJ'], ['\u01c8', 'Lj'], ['\u01c9', 'lj'],
  ['\u01ca', 'NJ'], ['\u01cb', 'Nj'], ['\u01cc', 'nj'],
  ['\ufb00', 'ff'], ['\ufb01', 'fi'], ['\ufb02', 'fl'], ['\ufb03', 'ffi'], ['\ufb04', 'ffl'], ['\ufb05', '\u017ft'], ['\ufb06', 'st'],
]);
const LIGATURE_RE = /[\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g;

let widthMap: Map<string, string> | undefined;
/** ftfy `WIDTH_MAP`: U+3000 -> ' ' and U+FF01..U+FFEF -> their NFKC form where that differs. */
function widthTable(): Map<string, string> {
  if (widthMap) return widthMap;
  const m = new Map<string, string>([['\u3000', ' ']]);
  for (let i = 0xff01; i < 0xfff0; i++) {
    const c = String.fromCharCode(i);
    const alt = c.normalize('NFKC');
    if (alt !== c) m.set(c, alt);
  }
  widthMap = m;
  return m;
}
const WIDTH_RE = /[\u3000\uff01-\uffef]/g;

const SINGLE_QUOTE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE = /[\u201c-\u201f]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ANSI_ESCAPE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
const CONTROL_CHARS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

function fixSegment(segment: string, unescape: boolean): string {
  let text = segment;
  for (;;) {
    const orig = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    text = text.replace(C1_CONTROL, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]!);
    text = text.replace(LIGATURE_RE, (c) => LIGATURES.get(c) ?? c);
    const width = widthTable();
    text = text.replace(WIDTH_RE, (c) => width.get(c) ?? c);
    text = text.replace(DOUBLE_QUOTE, '"').replace(SINGLE_QUOTE, "'");
    text = text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\x85]/g, '\n');
    text = text.replace(LONE_SURROGATE, '\ufffd');
    text = text.replace(ANSI_ESCAPE, '');
    text = text.replace(CONTROL_CHARS, '');
    text = text.normalize('NFC');
    if (text === orig) return text;
  }
}

const MAX_DECODE_LENGTH = 1_000_000;

/** Approximation of `ftfy.fix_text(text)` with default settings; see the module comment for what is left out. */
export function fixText(text: string): string {
  let unescape = true; // unescape_html='auto'
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    let brk = text.indexOf('\n', pos) + 1;
    if (brk === 0) brk = text.length;
    if (brk - pos > MAX_DECODE_LENGTH) brk = pos + MAX_DECODE_LENGTH;
    const segment = text.slice(pos, brk);
    if (unescape && segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape);
    pos = brk;
  }
  return out;
}

/** CLIP `basic_clean` + `whitespace_clean` + `lower()`: the text that the pre-tokenisation regex sees. */
export function normalizeClipText(text: string): string {
  const basic = pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
  return whitespaceClean(basic).toLowerCase();
}
