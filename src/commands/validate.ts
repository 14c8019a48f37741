/**
 * Turns /imagine options into a GenerationRequest, with polite messages for everything out of range.
 * Pure: no Discord objects here, so it is unit-tested directly.
 */
import type { BotLimits, ImagineDefaults } from '../bot/context.ts';
import { applyStyle, formatPrompts, parsePrompts, PromptParseError, type WeightedPrompt } from '../engine/prompt-parse.ts';
import { BIGGAN_SIZES, randomSeed, rangeWords, REQUEST_FIELDS, type GenerationRequest, type ModelName, type RequestFields } from '../engine/request-schema.ts';
import { botCaps, bounds, slashFields } from './request-options.ts';

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
  get userMessage(): string {
    return this.problems.length === 1 ? this.problems[0]! : '\n' + this.problems.map((p) => `• ${p}`).join('\n');
  }
}

/** Style presets: the value is appended to the first prompt. Name ≤ 100 chars, at most 25 (Discord choices). */
export const STYLES: ReadonlyArray<{ name: string; suffix: string }> = [
  { name: 'oil painting', suffix: 'oil painting' },
  { name: 'watercolour', suffix: 'watercolour painting' },
  { name: 'pixel art', suffix: 'pixel art' },
  { name: 'trending on artstation', suffix: 'trending on ArtStation' },
  { name: 'unreal engine', suffix: 'unreal engine, highly detailed' },
  { name: 'matte painting', suffix: 'matte painting' },
  { name: 'pencil sketch', suffix: 'pencil sketch' },
  { name: 'charcoal drawing', suffix: 'charcoal drawing' },
  { name: 'ukiyo-e', suffix: 'ukiyo-e woodblock print' },
  { name: 'impressionist', suffix: 'impressionist painting' },
  { name: 'art nouveau', suffix: 'art nouveau' },
  { name: 'stained glass', suffix: 'stained glass window' },
  { name: 'cyberpunk', suffix: 'cyberpunk, neon lights' },
  { name: 'vaporwave', suffix: 'vaporwave' },
  { name: 'low poly', suffix: 'low poly render' },
  { name: 'psychedelic', suffix: 'psychedelic art' },
  { name: 'photorealistic', suffix: 'photorealistic, 8k' },
];

/** width:height ratios. */
export const ASPECTS: ReadonlyArray<{ name: string; value: string; w: number; h: number }> = [
  { name: 'square 1:1', value: '1:1', w: 1, h: 1 },
  { name: 'landscape 3:2', value: '3:2', w: 3, h: 2 },
  { name: 'portrait 2:3', value: '2:3', w: 2, h: 3 },
  { name: 'landscape 4:3', value: '4:3', w: 4, h: 3 },
  { name: 'portrait 3:4', value: '3:4', w: 3, h: 4 },
  { name: 'wide 16:9', value: '16:9', w: 16, h: 9 },
  { name: 'tall 9:16', value: '9:16', w: 9, h: 16 },
];

/** VQGAN f16: sides are multiples of 16. */
export const SIZE_STEP = 16;
export const MIN_SIZE = 64;
export const MAX_PROMPT_CHARS = 1000;

export interface ImagineInput {
  prompt: string;
  style?: string | null;
  aspect?: string | null;
  size?: number | null;
  steps?: number | null;
  seed?: number | null;
  cutouts?: number | null;
  learningRate?: number | null;
  optimiser?: string | null;
  /** any other option of the request schema, by its option name in camelCase */
  [option: string]: string | number | null | undefined;
}

export interface BuiltRequest {
  request: GenerationRequest;
  prompts: WeightedPrompt[];
  /** the prompt as the user wrote it (for display) */
  displayPrompt: string;
}

const has = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

/** Longest side `longest`, ratio w:h → sides rounded down to multiples of 16 (at least 16). */
export function sizeFor(longest: number, aspect: { w: number; h: number }): { width: number; height: number } {
  const round = (x: number) => Math.max(SIZE_STEP, Math.floor(x / SIZE_STEP) * SIZE_STEP);
  if (aspect.w >= aspect.h) return { width: round(longest), height: round((longest * aspect.h) / aspect.w) };
  return { width: round((longest * aspect.w) / aspect.h), height: round(longest) };
}

const upperFirst = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

export function buildRequest(input: ImagineInput, limits: BotLimits, defaults: ImagineDefaults, rng: () => number = Math.random, fields: RequestFields = REQUEST_FIELDS): BuiltRequest {
  const problems: string[] = [];
  let prompts: WeightedPrompt[] = [];
  const raw = (input.prompt ?? '').trim();
  if (raw.length > MAX_PROMPT_CHARS) problems.push(`The prompt is ${raw.length} characters long; please keep it under ${MAX_PROMPT_CHARS}.`);
  try {
    prompts = parsePrompts(raw);
  } catch (e) {
    if (e instanceof PromptParseError) problems.push(e.userMessage);
    else throw e;
  }

  let style: string | undefined;
  if (has(input.style) && input.style !== 'none') {
    const s = STYLES.find((x) => x.name === input.style || x.suffix === input.style);
    if (!s) problems.push(`I don't know the style “${input.style}”. Pick one from the list.`);
    else style = s.suffix;
  }

  let aspect = ASPECTS[0]!;
  if (has(input.aspect)) {
    const a = ASPECTS.find((x) => x.value === input.aspect || x.name === input.aspect);
    if (!a) problems.push(`I don't know the aspect “${input.aspect}”. Pick one of ${ASPECTS.map((x) => x.value).join(', ')}.`);
    else aspect = a;
  }

  const minSize = Math.min(MIN_SIZE, limits.maxSize);
  const longest = has(input.size) ? input.size : Math.min(defaults.defaultSize, limits.maxSize);
  if (!Number.isInteger(longest) || longest < minSize || longest > limits.maxSize) {
    problems.push(`The size must be a whole number of pixels between ${minSize} and ${limits.maxSize} (this server's limit); you asked for ${longest}.`);
  }

  // every other option comes from the request schema, bounded by the schema and this bot's caps
  const caps = botCaps(limits);
  const given: Record<string, number | string> = {};
  for (const f of slashFields(fields)) {
    const value = input[f.inputKey];
    if (!has(value)) continue;
    const { def } = f;
    const cap = caps[f.key];
    if (def.kind === 'choice') {
      const choice = def.choices?.find((c) => c.toLowerCase() === String(value).toLowerCase());
      if (choice === undefined) problems.push(`I don't know the ${def.label} “${value}”. Pick one of ${def.choices?.join(', ')}.`);
      else given[f.key] = choice;
      continue;
    }
    if (def.kind === 'integer' || def.kind === 'number') {
      const b = bounds(def, cap);
      const v = value as number;
      const ok = typeof v === 'number' && Number.isFinite(v) && (def.kind === 'number' || Number.isInteger(v)) && v >= (b.min ?? -Infinity) && v <= (b.max ?? Infinity) && (b.above === undefined || v > b.above);
      if (!ok) {
        const text = cap?.message?.(b.min ?? b.above ?? -Infinity, b.max ?? Infinity) ?? `${upperFirst(def.label)} must be ${rangeWords(b, b.max)}${cap?.note ? ` (${cap.note})` : ''}; you asked for ${value}.`;
        problems.push(text);
        continue;
      }
    }
    given[f.key] = value;
  }
  const steps = (given.steps as number | undefined) ?? Math.min(defaults.defaultSteps, limits.maxSteps);

  // each painter's own limits: BigGAN-deep is released at 128, 256 and 512 pixels, square
  const model = (given.model as ModelName | undefined) ?? 'vqgan';
  let side: number | undefined;
  if (model === 'biggan') {
    const fits = BIGGAN_SIZES.filter((x) => x <= limits.maxSize);
    if (has(input.size)) {
      if (!(BIGGAN_SIZES as readonly number[]).includes(input.size)) problems.push(`BigGAN paints at 128, 256 or 512 pixels only; you asked for ${input.size}.`);
      side = input.size;
    } else if (!fits.length) {
      problems.push(`BigGAN paints at 128, 256 or 512 pixels only, and this server's limit is ${limits.maxSize}.`);
    } else {
      side = fits.reduce((a, b) => (Math.abs(b - defaults.defaultSize) < Math.abs(a - defaults.defaultSize) ? b : a));
    }
    if (aspect.w !== aspect.h) problems.push(`BigGAN paints square pictures only; leave out the aspect (or pick ${ASPECTS.find((x) => x.w === x.h)?.value ?? '1:1'}).`);
  } else if (has(given.maxClasses)) {
    problems.push('max_classes is for model:biggan only.');
  }

  if (problems.length) throw new ValidationError(problems);

  const styled = applyStyle(prompts, style);
  const { width, height } = side ? { width: side, height: side } : sizeFor(longest, aspect);
  const request = {
    ...given,
    prompt: formatPrompts(styled),
    steps,
    width,
    height,
    seed: (given.seed as number | undefined) ?? randomSeed(rng),
    // SIREN keeps deep-daze's batches of 4 cutouts (×4 accumulated) unless asked
    ...(model !== 'siren' || has(given.cutn) ? { cutn: (given.cutn as number | undefined) ?? defaults.defaultCutn } : {}),
    saveEvery: Math.max(1, Math.min(defaults.saveEvery, steps)),
  } as GenerationRequest;
  return { request, prompts: styled, displayPrompt: raw };
}
