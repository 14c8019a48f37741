/**
 * Command line of `imagine`: the options of the reference generate.py (nerdyrodent/VQGAN-CLIP) under the
 * same short names (-p, -ip, -i, -se, -s W H, -ii, -in, -iw, -nps, -npw, -lr, -opt, -cutm, -cuts, -cutp,
 * -aug, -sd, -o) plus Reverie's own (--timelapse, --clip, --vqgan, --device, --threads, --json,
 * --snapshots, --upscale). Long names take `_` or `-` (`--image_prompts`, `--image-prompts`) and
 * `--name=value`. Everything wrong with the command line is a UsageError: one line, exit code 2.
 *
 * Files and folders named on the command line are checked here too, so a mistake fails before the models
 * load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_AUGMENTS, parseAugments, type Augment, type CutMethod } from '../engine/generate/cutouts.ts';
import type { ImagePrompt, NoisePrompt } from '../engine/generate/settings.ts';
import { PromptParseError, parsePrompts, type WeightedPrompt } from '../engine/prompt-parse.ts';
import { BIGGAN_SIZES, MODEL_DEFAULTS, REQUEST_FIELDS, rangeWords, type ModelName, type OptimiserName, type RequestFields } from '../engine/request-schema.ts';
import { checkModels, DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER } from '../model-files/layout.ts';
import { UsageError } from './args.ts';
import { fail, helpText, NUMBERISH, optionTable, parseRaw, type RawOptions } from './imagine-argv.ts';

export { helpText, parseRaw, UsageError, type RawOptions };

const INIT_NOISES = ['pixels', 'gradient'] as const;
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** The CLI's caps on the request schema's ranges: wider than the bot's (one person, their own machine). */
export const CLI_CAPS: Readonly<Record<string, { max?: number }>> = {
  cutn: { max: 512 },
  lr: { max: 100 },
  cutPow: { max: 100 },
};

/** Everything the run needs, checked. */
export interface ImagineOptions {
  help: boolean;
  prompts: WeightedPrompt[];
  imagePrompts: ImagePrompt[];
  noisePrompts: NoisePrompt[];
  steps: number;
  saveEvery: number;
  width: number;
  height: number;
  initImage?: string;
  initNoise?: 'pixels' | 'gradient';
  initWeight: number;
  lr: number;
  optimiser: OptimiserName;
  cutMethod: CutMethod;
  cutn: number;
  cutPow: number;
  augments: Augment[];
  /** undefined: pick one at random */
  seed?: number;
  output: string;
  timelapse?: { file: string; format: 'webp' | 'gif' };
  snapshots?: string;
  upscale?: number;
  clipDir: string;
  vqganDir: string;
  /** the painter (default vqgan) and its own settings */
  model: ModelName;
  bigganDir?: string;
  maxClasses?: number;
  classTemperature?: number;
  emaDecay?: number;
  bilinear?: boolean;
  sirenLayers?: number;
  sirenHidden?: number;
  accumulate?: number;
  averagingWeight?: number;
  /** the folders were not given and come from MODELS_DIR */
  defaultModels: { clip: boolean; vqgan: boolean };
  device: string;
  threads?: number;
  /** ENGINE_MEMORY, as for the bot */
  memory: 'fast' | 'lean';
  json: boolean;
}

/**
 * The request fields offered to the CLI, from their options or the schema's defaults, checked against the
 * schema's range narrowed by CLI_CAPS. Keyed by field (steps, lr, ...).
 */
function requestValues(raw: RawOptions, fields: RequestFields): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const d of optionTable(fields).defs) {
    if (!d.field) continue;
    const def = fields[d.field]!;
    const name = d.short ? `-${d.short}` : `--${d.long}`;
    const given = raw[d.key] as number | string | undefined;
    const v = given ?? def.default;
    if (v === undefined) continue;
    if (def.kind === 'choice') {
      const choice = def.choices?.find((c) => c.toLowerCase() === String(v).toLowerCase());
      if (choice === undefined) fail(`${name}: unknown ${def.label} "${v}": use one of ${def.choices?.join(', ')}`);
      out[d.field] = choice;
      continue;
    }
    if (typeof v === 'number') {
      const max = Math.min(def.max ?? Infinity, CLI_CAPS[d.field]?.max ?? Infinity);
      const lo = def.above !== undefined ? { above: def.above } : { min: def.min ?? -Infinity };
      if (v < (lo.min ?? -Infinity) || v > max || (lo.above !== undefined && !(v > lo.above))) fail(`${name} must be ${rangeWords(lo, max)}, got ${v}`);
    }
    out[d.field] = v;
  }
  return out;
}

function range(name: string, v: number | undefined, min: number, max: number, what = ''): void {
  if (v === undefined) return;
  if (v < min || v > max) fail(`${name} must be ${max === Infinity ? `at least ${min}` : `between ${min} and ${max}`}${what}, got ${v}`);
}

/** `path[:weight[:stop]]` (a trailing number is a weight only when it parses as one). */
function parseImagePrompt(piece: string): ImagePrompt {
  const parts = piece.trim().split(':');
  let weight = 1;
  let stop = -Infinity;
  const isNum = (s: string | undefined) => s !== undefined && (NUMBERISH.test(s.trim()) || /^[-+]?inf$/i.test(s.trim()));
  const asNum = (s: string) => (/inf$/i.test(s.trim()) ? (s.trim().startsWith('-') ? -Infinity : Infinity) : Number(s));
  if (parts.length >= 3 && isNum(parts[parts.length - 1]) && isNum(parts[parts.length - 2])) {
    stop = asNum(parts.pop()!);
    weight = asNum(parts.pop()!);
  } else if (parts.length >= 2 && isNum(parts[parts.length - 1])) {
    weight = asNum(parts.pop()!);
  }
  const source = parts.join(':').trim();
  if (!source) fail(`an image prompt has no file name ("${piece.trim()}")`);
  if (!Number.isFinite(weight)) fail(`the weight of image prompt "${source}" must be a finite number`);
  if (stop === Infinity) fail(`the stop value of image prompt "${source}" must be a number or -inf`);
  return { source, weight, stop };
}

function mustBeFile(name: string, p: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    fail(`${name}: no such file: ${p}`);
  }
  if (!st.isFile()) fail(`${name}: not a file: ${p}`);
}

function mustBeDir(name: string, p: string, hint: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    fail(`${name}: model folder not found: ${p}${hint}`);
  }
  if (!st.isDirectory()) fail(`${name}: not a folder: ${p}`);
}

function parentMustExist(name: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  let ok = false;
  try {
    ok = fs.statSync(dir).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) fail(`${name}: the folder ${dir} does not exist`);
}

/**
 * Parses and checks the whole command line (files and folders included), so that nothing long starts
 * before every mistake in it is reported. Throws UsageError.
 */
export function parseImagineArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), fields: RequestFields = REQUEST_FIELDS): ImagineOptions {
  const { raw, positionals } = parseRaw(argv, fields);
  const at = (p: string) => path.resolve(cwd, p);
  if (raw.help) {
    return { help: true } as ImagineOptions;
  }
  if (positionals.length > 1) fail(`expected one prompt argument, got ${positionals.length} (quote the prompt: imagine "a red fox | snow:0.5")`);
  if (positionals.length && raw.prompts !== undefined) fail('give the prompt either as the argument or with -p, not both');
  const promptText = raw.prompts ?? positionals[0];

  let prompts: WeightedPrompt[] = [];
  if (promptText !== undefined) {
    try {
      prompts = parsePrompts(promptText);
    } catch (err) {
      if (err instanceof PromptParseError) fail(`-p: ${err.userMessage.replace(/`/g, '"')}`);
      throw err;
    }
  }
  const imagePrompts = raw.image_prompts !== undefined ? raw.image_prompts.split('|').map(parseImagePrompt) : [];
  for (const ip of imagePrompts) mustBeFile('-ip', at(ip.source as string));
  imagePrompts.forEach((ip) => (ip.source = at(ip.source as string)));

  const seeds = raw.noise_prompt_seeds ?? [];
  const weights = raw.noise_prompt_weights ?? [];
  if (weights.length && !seeds.length) fail('-npw gives noise prompt weights but -nps gives no noise prompt seeds');
  if (weights.length > seeds.length) fail(`-npw has ${weights.length} weights for ${seeds.length} noise prompt seeds`);
  for (const s of seeds) range('-nps', s, 0, MAX_SEED);
  const noisePrompts = seeds.map((seed, i) => ({ seed, weight: weights[i] ?? 1 }));
  if (!prompts.length && !imagePrompts.length && !noisePrompts.length) fail('nothing to paint: give a prompt (imagine "a red fox"), -p, -ip or -nps');

  if (typeof raw.text_min === 'string') {
    for (const t of raw.text_min.split('|').map((x) => x.trim()).filter(Boolean)) prompts.push({ text: t, weight: -1, stop: -Infinity });
  }
  const req = requestValues(raw, fields);
  const model = ((req.model as string | undefined) ?? 'vqgan') as ModelName;
  if (model !== 'vqgan') {
    // each painter's own defaults where the options leave them out
    const own = MODEL_DEFAULTS[model];
    if (raw.learning_rate === undefined) req.lr = own.lr;
    if (raw.optimiser === undefined) req.optimiser = own.optimiser;
    if (raw.num_cuts === undefined) req.cutn = own.cutn;
  }
  if (raw.image_size !== undefined) {
    if (raw.size !== undefined) fail('give either -s W H or --image-size N, not both');
    raw.size = [raw.image_size as number, raw.image_size as number];
  }
  if (model === 'biggan') {
    const [w, h] = raw.size ?? [MODEL_DEFAULTS.biggan.size, MODEL_DEFAULTS.biggan.size];
    if (w !== h || !(BIGGAN_SIZES as readonly number[]).includes(w)) fail(`--model biggan paints square pictures of 128, 256 or 512 pixels only; got ${w}×${h}`);
    raw.size = [w, h];
  } else if (req.maxClasses !== undefined) {
    fail('--max-classes is for --model biggan only');
  }
  range('--class-temperature', raw.class_temperature as number | undefined, 1e-6, 1000);
  range('--ema-decay', raw.ema_decay as number | undefined, 0, 0.999999);
  range('--num-layers', raw.num_layers as number | undefined, 1, 64);
  range('--hidden-size', raw.hidden_size as number | undefined, 1, 4096);
  range('--gradient-accumulate-every', raw.gradient_accumulate_every as number | undefined, 1, 64);
  range('--averaging-weight', raw.averaging_weight as number | undefined, 0, 1);
  const steps = req.steps as number;
  const saveEvery = req.saveEvery as number;
  const [width, height] = raw.size ?? [fields.width?.default as number, fields.height?.default as number];
  range('-s', width, 1, 8192, ' (width)');
  range('-s', height, 1, 8192, ' (height)');
  if (raw.init_image !== undefined && raw.init_noise !== undefined) fail('give either -ii (init image) or -in (init noise), not both');
  if (raw.init_image !== undefined) mustBeFile('-ii', at(raw.init_image));
  if (raw.init_noise !== undefined && !(INIT_NOISES as readonly string[]).includes(raw.init_noise)) {
    fail(`-in must be ${INIT_NOISES.join(' or ')}, got "${raw.init_noise}"`);
  }
  const cutMethod = req.cutMethod as CutMethod;
  let augments: Augment[];
  try {
    augments = raw.augments ? parseAugments(raw.augments) : [...DEFAULT_AUGMENTS[cutMethod]];
  } catch (err) {
    fail(`-aug: ${(err as Error).message}`);
  }

  const output = raw.output ?? 'output.png';
  const ext = path.extname(output).toLowerCase();
  if (ext && ext !== '.png') fail(`-o: the picture is written as PNG, so its name must end in .png (got "${output}")`);
  parentMustExist('-o', at(output));
  let timelapse: ImagineOptions['timelapse'];
  if (raw.timelapse !== undefined) {
    const t = path.extname(raw.timelapse).toLowerCase();
    if (t !== '.webp' && t !== '.gif') fail(`--timelapse: the file name must end in .webp or .gif (got "${raw.timelapse}")`);
    if (saveEvery === 0) fail('--timelapse needs snapshots: -se must be at least 1');
    parentMustExist('--timelapse', at(raw.timelapse));
    timelapse = { file: at(raw.timelapse), format: t === '.webp' ? 'webp' : 'gif' };
  }
  if (raw.snapshots !== undefined && saveEvery === 0) fail('--snapshots needs -se of at least 1');
  if (raw.snapshots !== undefined) {
    const d = at(raw.snapshots);
    if (fs.existsSync(d) && !fs.statSync(d).isDirectory()) fail(`--snapshots: not a folder: ${d}`);
  }
  if (raw.upscale !== undefined && (!(raw.upscale >= 1) || raw.upscale > 16)) fail(`--upscale must be between 1 and 16, got ${raw.upscale}`);

  const device = raw.device ?? 'cpu';
  if (!/^(cpu|cuda:\d{1,2})$/.test(device)) fail(`--device must be cpu or cuda:N, got "${device}"`);
  range('--threads', raw.threads, 1, 1024);
  const memory = env.ENGINE_MEMORY || 'fast';
  if (memory !== 'fast' && memory !== 'lean') fail(`ENGINE_MEMORY must be fast or lean, got "${memory}"`);

  const modelsDir = at(env.MODELS_DIR || 'models');
  const fromEnv = (v: string | undefined, def: string) => (v ? (path.isAbsolute(v) ? v : path.join(modelsDir, v)) : path.join(modelsDir, def));
  const clipDir = raw.clip !== undefined ? at(raw.clip) : fromEnv(env.CLIP_MODEL, DEFAULT_CLIP_FOLDER);
  const vqganDir = raw.vqgan !== undefined ? at(raw.vqgan) : fromEnv(env.VQGAN_MODEL, DEFAULT_VQGAN_FOLDER);
  const pullHint = ' (run `npm run models:pull`, set MODELS_DIR, or pass the folder)';
  mustBeDir('--clip', clipDir, raw.clip === undefined ? pullHint : '');
  mustBeDir('--vqgan', vqganDir, raw.vqgan === undefined ? pullHint : '');
  const problem = checkModels(modelsDir, { clip: clipDir, vqgan: vqganDir })[0];
  if (problem) fail(`${problem.variable === 'CLIP_MODEL' ? '--clip' : '--vqgan'}: ${problem.message}`);

  return {
    help: false,
    prompts,
    imagePrompts,
    noisePrompts,
    ...req,
    width,
    height,
    ...(raw.init_image !== undefined ? { initImage: at(raw.init_image) } : {}),
    ...(raw.init_noise !== undefined ? { initNoise: raw.init_noise as 'pixels' | 'gradient' } : {}),
    augments,
    output: at(output),
    ...(timelapse ? { timelapse } : {}),
    ...(raw.snapshots !== undefined ? { snapshots: at(raw.snapshots) } : {}),
    ...(raw.upscale !== undefined ? { upscale: raw.upscale } : {}),
    clipDir,
    vqganDir,
    model,
    ...(model === 'biggan' ? { bigganDir: raw.biggan !== undefined ? at(raw.biggan as string) : fromEnv(env.BIGGAN_MODEL, `biggan-deep-${width}`) } : {}),
    ...(raw.class_temperature !== undefined ? { classTemperature: raw.class_temperature } : {}),
    ...(raw.ema_decay !== undefined ? { emaDecay: raw.ema_decay } : {}),
    ...(raw.bilinear ? { bilinear: true } : {}),
    ...(raw.num_layers !== undefined ? { sirenLayers: raw.num_layers } : {}),
    ...(raw.hidden_size !== undefined ? { sirenHidden: raw.hidden_size } : {}),
    ...(raw.gradient_accumulate_every !== undefined ? { accumulate: raw.gradient_accumulate_every } : {}),
    ...(raw.averaging_weight !== undefined ? { averagingWeight: raw.averaging_weight } : {}),
    defaultModels: { clip: raw.clip === undefined, vqgan: raw.vqgan === undefined },
    device,
    ...(raw.threads !== undefined ? { threads: raw.threads } : {}),
    memory,
    json: raw.json ?? false,
  } as ImagineOptions;
}
