/**
 * From what was said to what to paint: the spoken lead-in ("Reverie, …", "imagine …", "paint me a
 * picture of …", "generate …") and fillers are stripped, with Whisper's non-speech annotations
 * ("[BLANK_AUDIO]", "(music)") and the final full stop. Pure functions, tested from tables.
 */

const FILLERS = String.raw`(?:um+|uh+|erm|er|hmm+|okay|ok|so|well|hey|hi|hello|please|now|right)`;
// Whisper spells the bot's name in several ways
const NAME = String.raw`(?:hey\s+|ok(?:ay)?\s+)?rev(?:e|a)r(?:ie|y|ee|i)`;
const VERBS = String.raw`(?:imagine|paint|generate|draw|create|make|render|picture|show(?:\s+me)?|give\s+me|can\s+you\s+(?:paint|draw|imagine|generate|make|show\s+me)|could\s+you\s+(?:paint|draw|imagine|generate|make))`;
const OBJECT = String.raw`(?:(?:me|us)\s+)?(?:(?:a|an|the)\s+(?:picture|painting|image|drawing|photo)\s+of\s+)?`;

const SEP = String.raw`[\s,.:;!?…—–-]*`;
const LEAD_NAME = new RegExp(String.raw`^(?:${FILLERS}${SEP})*${NAME}\b${SEP}`, 'i');
const LEAD_FILLER = new RegExp(String.raw`^(?:${FILLERS}\b${SEP})+`, 'i');
const LEAD_VERB = new RegExp(String.raw`^${VERBS}\b${SEP}${OBJECT}`, 'i');
const ANNOTATION = /\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪+/g;

/** The prompt in a transcript: lead-ins and annotations removed, trailing punctuation dropped. */
export function promptFromSpeech(transcript: string): string {
  let s = transcript.replace(ANNOTATION, ' ').replace(/\s+/g, ' ').trim();
  s = s.replace(/^["“”'‘’]+|["“”'‘’]+$/g, '').trim();
  for (let i = 0; i < 3; i++) {
    const before = s;
    s = s.replace(LEAD_FILLER, '').replace(LEAD_NAME, '').replace(LEAD_VERB, '').trim();
    if (s === before) break;
  }
  s = s.replace(/[\s.,;:!?…]+$/u, '').trim();
  // spoken words are taken literally: no prompt weights ("a: 2") or alternatives ("a | b")
  return s.replace(/\s*[|:]\s*/g, ', ').replace(/^, |, $/g, '');
}

/**
 * Spoken words and a typed prompt together (the typed one first), for /imagine prompt:… voice:…: one
 * prompt ("watercolour, a fox"), or, when the typed one uses the prompt syntax (weights, `|`), the
 * spoken words as one more prompt ("a:2 | b | a fox").
 */
export function combinePrompts(typed: string | null | undefined, spoken: string): string {
  const t = (typed ?? '').trim();
  if (!t) return spoken;
  if (!spoken) return t;
  return /[|:]/.test(t) ? `${t} | ${spoken}` : `${t}, ${spoken}`;
}
