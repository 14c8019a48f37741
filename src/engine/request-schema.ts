/**
 * What one picture request may hold: every field's type, engine default, range and help, in one table
 * (laid out like config.ts's VARIABLES). The slash command's options (src/commands/request-options.ts),
 * the CLI's options and help (src/cli/imagine-options.ts) and the scheduler's check (checkRequest) are
 * all derived from it; each front end only adds its own, narrower caps on top.
 *
 * It lives in the engine because the engine is what these ranges protect, and because nothing below the
 * front ends may import upwards: the jobs layer and the front ends import it, the engine never imports them.
 */
import { z } from 'zod';
import { CUT_METHODS, type Augment, type CutMethod } from './generate/cutouts.ts';
import { OPTIMISERS, type OptimiserName } from './generate/optimisers.ts';
import { MODEL_NAMES, type ModelName } from './generate/painter.ts';
import { BIGGAN_SIZES, DEFAULTS, MODEL_DEFAULTS } from './generate/settings.ts';

export { BIGGAN_SIZES, MODEL_DEFAULTS, MODEL_NAMES, OPTIMISERS, type ModelName, type OptimiserName };

/** What to paint, as stored with a job. `prompt` is in the grammar of prompt-parse.ts. */
export interface GenerationRequest {
  prompt: string;
  /** the generator: vqgan (default), biggan (big-sleep) or siren (deep-daze) */
  model?: ModelName;
  steps: number;
  width: number;
  height: number;
  seed: number;
  cutn?: number; // default 32 (the ETA cost model assumes 32 when absent)
  cutMethod?: CutMethod;
  cutPow?: number;
  lr?: number;
  optimiser?: OptimiserName;
  imagePrompts?: string[]; // file paths
  initImage?: string; // file path
  initWeight?: number;
  noisePromptSeeds?: number[];
  noisePromptWeights?: number[];
  saveEvery?: number; // snapshot (and checkpoint) every N steps
  initZ?: string; // path of a .npy z to start from (variations; e.g. a parent's JobRecord.finalZPath)
  augments?: Augment[] | string[];
  vqganModel?: string; // model names; engine defaults when absent
  clipModel?: string;
  maxClasses?: number; // BigGAN: keep the top k classes (big-sleep's max_classes)
}

export type FieldKind = 'integer' | 'number' | 'choice' | 'text' | 'texts' | 'integers' | 'numbers';

/** How a front end shows a field; false: that front end has no option for it (or one of its own). */
export interface SlashExposure {
  /** option name (default: the key in snake_case) */
  name?: string;
  /** 1–100 characters (default: help) */
  description?: string;
  /** listed after the attachments, with "Advanced:" in front */
  advanced?: boolean;
}
export interface CliExposure {
  short?: string;
  /** default: the key in snake_case */
  long?: string;
  /** placeholder in the help, e.g. N */
  value?: string;
  help?: string;
}

export interface RequestField {
  kind: FieldKind;
  /** inclusive bounds */
  min?: number;
  max?: number;
  /** exclusive lower bound (a learning rate must be above 0) */
  above?: number;
  choices?: readonly string[];
  /** what the engine uses when the field is absent */
  default?: number | string;
  required?: boolean;
  /** a noun for messages: "the learning rate must be ..." */
  label: string;
  help: string;
  slash?: SlashExposure | false;
  cli?: CliExposure | false;
}

function f(def: RequestField): RequestField {
  return def;
}

/** Order here is the order of the slash options (basic, then advanced); the CLI places its own (cli/imagine-argv.ts). */
export const REQUEST_FIELDS = {
  prompt: f({ kind: 'text', required: true, label: 'prompt', help: 'prompts, `|` separated, each text[:weight[:stop]]', slash: false, cli: false }),
  model: f({
    kind: 'choice', choices: MODEL_NAMES, default: 'vqgan', label: 'model', help: 'the painter: vqgan, biggan (BigGAN+CLIP, big-sleep) or siren (SIREN+CLIP, deep-daze)',
    slash: { description: 'Painter: vqgan (default), biggan (photographic objects, 128/256/512 px), siren (soft fields of colour)' },
    cli: { short: 'm', value: 'NAME', help: 'the painter: vqgan, biggan (big-sleep) or siren (deep-daze)' },
  }),
  steps: f({
    kind: 'integer', min: 1, max: 100_000, default: DEFAULTS.steps, required: true, label: 'steps', help: 'optimisation steps',
    slash: { description: 'Optimisation steps: more is slower and more detailed' }, cli: { short: 'i', long: 'iterations', value: 'N' },
  }),
  saveEvery: f({
    kind: 'integer', min: 0, default: DEFAULTS.saveEvery, label: 'the snapshot interval', help: 'snapshot every N steps, for --snapshots and --timelapse; 0 = never',
    slash: false, cli: { short: 'se', value: 'N' },
  }),
  width: f({ kind: 'integer', min: 1, max: 8192, default: DEFAULTS.width, required: true, label: 'the width', help: 'picture width in pixels', slash: false, cli: false }),
  height: f({ kind: 'integer', min: 1, max: 8192, default: DEFAULTS.height, required: true, label: 'the height', help: 'picture height in pixels', slash: false, cli: false }),
  initWeight: f({ kind: 'number', default: DEFAULTS.initWeight, label: 'the init weight', help: 'keep the latent near its start', slash: false, cli: { short: 'iw', value: 'W' } }),
  cutn: f({
    kind: 'integer', min: 1, default: DEFAULTS.cutn, label: 'cutouts', help: 'cutouts per step',
    slash: { name: 'cutouts', description: 'CLIP cutouts per step', advanced: true }, cli: { short: 'cuts', long: 'num_cuts', value: 'N' },
  }),
  lr: f({
    kind: 'number', above: 0, default: DEFAULTS.lr, label: 'the learning rate', help: 'step size',
    slash: { name: 'learning_rate', description: 'optimiser step size', advanced: true }, cli: { short: 'lr', long: 'learning_rate', value: 'LR' },
  }),
  optimiser: f({ kind: 'choice', choices: OPTIMISERS, default: DEFAULTS.optimiser, label: 'optimiser', help: 'optimiser', slash: { advanced: true }, cli: { short: 'opt', value: 'NAME' } }),
  cutMethod: f({ kind: 'choice', choices: CUT_METHODS, default: DEFAULTS.cutMethod, label: 'cut method', help: 'how cutouts are taken', slash: false, cli: { short: 'cutm', value: 'M' } }),
  cutPow: f({ kind: 'number', above: 0, default: DEFAULTS.cutPow, label: 'the cut power', help: 'cutout size power', slash: false, cli: { short: 'cutp', long: 'cut_power', value: 'P' } }),
  seed: f({
    kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, required: true, label: 'the seed', help: 'random seed',
    slash: { description: 'Random seed: the same seed and settings give the same picture' }, cli: { short: 'sd', value: 'N', help: 'random seed (random when absent; printed)' },
  }),
  imagePrompts: f({ kind: 'texts', label: 'image prompts', help: 'image files to paint towards', slash: false, cli: false }),
  initImage: f({ kind: 'text', label: 'init image', help: 'an image file to start from', slash: false, cli: false }),
  noisePromptSeeds: f({ kind: 'integers', label: 'noise prompt seeds', help: 'noise prompts: one seed each', slash: false, cli: false }),
  noisePromptWeights: f({ kind: 'numbers', label: 'noise prompt weights', help: 'their weights', slash: false, cli: false }),
  initZ: f({ kind: 'text', label: 'starting latent', help: 'a .npy latent to start from', slash: false, cli: false }),
  augments: f({ kind: 'texts', label: 'augments', help: 'augments of the cutouts', slash: false, cli: false }),
  maxClasses: f({
    kind: 'integer', min: 1, max: 1000, label: 'max classes', help: 'BigGAN: keep only the top N classes of each latent (big-sleep --max-classes)',
    slash: { description: 'BigGAN only: keep the top N ImageNet classes', advanced: true }, cli: { value: 'N' },
  }),
  vqganModel: f({ kind: 'text', label: 'VQGAN model', help: 'VQGAN model name', slash: false, cli: false }),
  clipModel: f({ kind: 'text', label: 'CLIP model', help: 'CLIP model name', slash: false, cli: false }),
} satisfies Record<keyof GenerationRequest, RequestField>;

export type RequestFields = Readonly<Record<string, RequestField>>;

export const snakeCase = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
export const camelCase = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function zodFor(def: RequestField): z.ZodType {
  switch (def.kind) {
    case 'integer':
    case 'number': {
      let s = def.kind === 'integer' ? z.number().int() : z.number().finite();
      if (def.min !== undefined) s = s.min(def.min);
      if (def.max !== undefined) s = s.max(def.max);
      if (def.above !== undefined) s = s.gt(def.above);
      return s;
    }
    case 'choice':
      return z.enum(def.choices as [string, ...string[]]);
    case 'text':
      return z.string();
    case 'texts':
      return z.array(z.string());
    case 'integers':
      return z.array(z.number().int());
    case 'numbers':
      return z.array(z.number().finite());
  }
}

/** The zod object for a request (unknown keys pass through, as stored requests may carry more). */
export function requestSchema(fields: RequestFields = REQUEST_FIELDS) {
  return z.looseObject(Object.fromEntries(Object.entries(fields).map(([k, def]) => [k, def.required ? zodFor(def) : zodFor(def).optional()])));
}

const checkers = new WeakMap<RequestFields, z.ZodType>();

/** Throws a TypeError naming the first field out of the schema's range. */
export function checkRequest(r: unknown, fields: RequestFields = REQUEST_FIELDS): void {
  let schema = checkers.get(fields);
  if (!schema) checkers.set(fields, (schema = requestSchema(fields)));
  const res = schema.safeParse(r);
  if (res.success) return;
  const issue = res.error.issues[0]!;
  throw new TypeError(`request${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`);
}

/** The engine's range of a number field, as words: "between 1 and 512", "above 0 and at most 100". */
export function rangeWords(lo: { min?: number; above?: number }, max: number | undefined): string {
  if (lo.above !== undefined) return max === undefined ? `above ${lo.above}` : `above ${lo.above} and at most ${max}`;
  if (max === undefined || max === Infinity) return `at least ${lo.min ?? -Infinity}`;
  return `between ${lo.min} and ${max}`;
}

/** A seed for a request that names none (below 2³¹, so it reads well and fits every front end's cap). */
export function randomSeed(rng: () => number = Math.random): number {
  return Math.floor(rng() * 2 ** 31);
}
