/**
 * Weighted prompt syntax shared by the bot and the engine: `a lighthouse:1 | fog:0.5 | text:-1`.
 *
 * `|` separates prompts; each is `text[:weight[:stop]]`, read from the right as the reference scripts
 * do (weight 1 and stop -inf when absent). Unlike the reference, a colon that is plainly part of the
 * text stays in the text: "a sign saying: hello" is one prompt with weight 1. A segment after the last
 * colon counts as a weight when it is a number; a single word after a colon that is not a number
 * ("cat:big") is reported as an unreadable weight, since that is almost always a typo.
 *
 * Two colons with nothing between them (`:::`, `a::1`) are refused as unreadable weights rather than
 * painted as text: an empty weight field is a typo, never something to paint. A prompt made only of
 * white space and invisible characters (zero-width spaces, joiners, BOM, variation selectors...) counts
 * as empty.
 */

export interface WeightedPrompt {
  text: string;
  weight: number;
  /** stop value (a spherical distance): the term stops pulling once the distance is below it */
  stop: number;
}

export class PromptParseError extends Error {
  override readonly name = 'PromptParseError';
  constructor(readonly userMessage: string) {
    super(userMessage);
  }
}

export const MAX_PROMPTS = 8;
export const MAX_WEIGHT = 100;

/** White space and characters that show nothing (zero-width, joiners, BOM, variation selectors, fillers). */
const INVISIBLE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cf}\u2800]/gu;

/** True when the text has nothing visible in it. */
export function isBlank(s: string): boolean {
  return s.replace(INVISIBLE, '') === '';
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
const INF = /^[-+]?inf(inity)?$/i;

function readNumber(s: string, allowInf: boolean): number | undefined {
  const t = s.trim();
  if (NUMBER.test(t)) return Number(t);
  if (allowInf && INF.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  return undefined;
}

/** A segment that looks like an attempt at a number (or a bare word glued to a colon). */
function looksLikeWeight(raw: string): boolean {
  if (/\s/.test(raw.trimEnd())) return false; // "a sign saying: hello" → text ("cat:big " is still a weight)
  if (raw.startsWith('/')) return false; // "http://…"
  return raw.length > 0;
}

function quote(s: string): string {
  const t = s.trim();
  return `“${t.length > 40 ? t.slice(0, 37) + '…' : t}”`;
}

/** Parses one `text[:weight[:stop]]` piece. */
export function parsePrompt(piece: string): WeightedPrompt {
  if (piece.includes('::')) {
    throw new PromptParseError(
      `I couldn't read the weights in ${quote(piece)}: there is nothing between two colons. Write prompts as text:weight (or text:weight:stop), e.g. \`a red fox:1 | snow:0.5\`.`,
    );
  }
  const parts = piece.split(':');
  let weight = 1;
  let stop = -Infinity;
  let textParts = parts;
  if (parts.length >= 2) {
    const last = parts[parts.length - 1]!;
    const lastNum = readNumber(last, true);
    if (lastNum === undefined) {
      if (looksLikeWeight(last)) {
        throw new PromptParseError(
          `I couldn't read the weight ${quote(last)} in ${quote(piece)}. Write prompts as text:weight, e.g. \`a red fox:1 | snow:0.5\`.`,
        );
      }
    } else {
      const prev = parts.length >= 3 ? parts[parts.length - 2]! : undefined;
      const prevNum = prev !== undefined ? readNumber(prev, false) : undefined;
      if (prevNum !== undefined) {
        weight = prevNum;
        stop = lastNum;
        textParts = parts.slice(0, -2);
      } else if (prev !== undefined && looksLikeWeight(prev) && /^[-+.\d]/.test(prev.trim())) {
        throw new PromptParseError(`I couldn't read the weight ${quote(prev)} in ${quote(piece)}. Weights are numbers like 1, 0.5 or -1.`);
      } else {
        if (!Number.isFinite(lastNum)) {
          throw new PromptParseError(`The weight in ${quote(piece)} must be a finite number (infinity only works as a stop value, as in text:1:-inf).`);
        }
        weight = lastNum;
        textParts = parts.slice(0, -1);
      }
    }
  }
  const text = textParts.join(':').trim();
  if (isBlank(text)) throw new PromptParseError(`One of the prompts has a weight but no text (${quote(piece)}). Write it as \`some text:0.5\`.`);
  if (!Number.isFinite(weight) || Math.abs(weight) > MAX_WEIGHT) {
    throw new PromptParseError(`The weight ${weight} in ${quote(piece)} is out of range: use a number between -${MAX_WEIGHT} and ${MAX_WEIGHT}.`);
  }
  if (Number.isNaN(stop) || stop === Infinity) {
    throw new PromptParseError(`The stop value in ${quote(piece)} must be a number (or -inf).`);
  }
  return { text, weight, stop };
}

export interface ParsePromptsOptions {
  /** an empty input gives [] instead of an error (e.g. only image prompts); default false */
  allowEmpty?: boolean;
  /** at least one prompt must pull (weight > 0); default true */
  requirePositive?: boolean;
}

/** Parses `a:1 | b:0.5 | c:-1`. Throws PromptParseError with a message fit for the user. */
export function parsePrompts(input: string, opts: ParsePromptsOptions = {}): WeightedPrompt[] {
  if (!input || isBlank(input)) {
    if (opts.allowEmpty) return [];
    throw new PromptParseError('The prompt is empty: tell me what to paint, e.g. `a lighthouse in a storm`.');
  }
  const pieces = input.split('|');
  const out: WeightedPrompt[] = [];
  for (const piece of pieces) {
    if (isBlank(piece)) {
      if (pieces.length > 1) throw new PromptParseError('There is an empty prompt between the `|` separators: remove the extra `|` or put text there.');
      continue;
    }
    out.push(parsePrompt(piece));
  }
  if (out.length > MAX_PROMPTS) throw new PromptParseError(`That is ${out.length} prompts; at most ${MAX_PROMPTS} are allowed.`);
  if ((opts.requirePositive ?? true) && !out.some((p) => p.weight > 0)) {
    throw new PromptParseError('Every prompt has a weight of 0 or less, so there is nothing to paint towards: give at least one prompt a positive weight.');
  }
  return out;
}

function fmtNum(n: number): string {
  if (n === -Infinity) return '-inf';
  return String(n);
}

/** Writes prompts back in the canonical `text:weight:stop` form (weight/stop only when not default). */
export function formatPrompts(prompts: readonly WeightedPrompt[]): string {
  return prompts
    .map((p) => {
      if (p.stop !== -Infinity) return `${p.text}:${fmtNum(p.weight)}:${fmtNum(p.stop)}`;
      if (p.weight !== 1) return `${p.text}:${fmtNum(p.weight)}`;
      // a text that would read differently on its own gets an explicit weight
      const again = parsePromptSafe(p.text);
      return again && again.text === p.text && again.weight === 1 && again.stop === -Infinity ? p.text : `${p.text}:1`;
    })
    .join(' | ');
}

function parsePromptSafe(s: string): WeightedPrompt | undefined {
  try {
    return parsePrompt(s);
  } catch {
    return undefined;
  }
}

/** Appends a style suffix to the first positive prompt: "a fox" + "oil painting" → "a fox, oil painting". */
export function applyStyle(prompts: readonly WeightedPrompt[], suffix: string | undefined): WeightedPrompt[] {
  if (!suffix) return prompts.map((p) => ({ ...p }));
  let done = false;
  return prompts.map((p) => {
    if (done || p.weight <= 0) return { ...p };
    done = true;
    return { ...p, text: `${p.text}, ${suffix}` };
  });
}
