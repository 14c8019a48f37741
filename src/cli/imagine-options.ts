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
import { PromptParseError, parsePrompts, type WeightedPrompt } from '../commands/prompt-parse.ts';
import { AUGMENTS, DEFAULT_AUGMENTS, parseAugments, type Augment, type CutMethod } from '../engine/generate/cutouts.ts';
import { OPTIMISERS, type OptimiserName } from '../engine/generate/optimisers.ts';
import { DEFAULTS, type ImagePrompt, type NoisePrompt } from '../engine/generate/settings.ts';
import { DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER, checkModels } from '../models/layout.ts';
import { UsageError } from './args.ts';

export { UsageError };

type Kind = 'string' | 'number' | 'integer' | 'flag' | 'strings' | 'integers' | 'numbers' | 'size';

interface Def {
  key: keyof RawOptions;
  short?: string;
  long: string;
  kind: Kind;
  value?: string;
  help: string;
}

/** Options as typed, before checks across options. */
export interface RawOptions {
  prompts?: string;
  image_prompts?: string;
  iterations?: number;
  save_every?: number;
  size?: [number, number];
  init_image?: string;
  init_noise?: string;
  init_weight?: number;
  noise_prompt_seeds?: number[];
  noise_prompt_weights?: number[];
  learning_rate?: number;
  optimiser?: string;
  cut_method?: string;
  num_cuts?: number;
  cut_power?: number;
  augments?: string[];
  seed?: number;
  output?: string;
  timelapse?: string;
  clip?: string;
  vqgan?: string;
  device?: string;
  threads?: number;
  json?: boolean;
  snapshots?: string;
  upscale?: number;
  help?: boolean;
}

const CUT_METHODS: readonly CutMethod[] = ['original', 'updated', 'latest'];
const INIT_NOISES = ['pixels', 'gradient'] as const;
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const DEFS: Def[] = [
  { key: 'prompts', short: 'p', long: 'prompts', kind: 'string', value: 'TEXT', help: 'text prompts, `|` separated, each text[:weight[:stop]] (or give the prompt as the argument)' },
  { key: 'image_prompts', short: 'ip', long: 'image_prompts', kind: 'string', value: 'FILES', help: 'image prompts, `|` separated, each path[:weight[:stop]]' },
  { key: 'iterations', short: 'i', long: 'iterations', kind: 'integer', value: 'N', help: `optimisation steps (default ${DEFAULTS.steps})` },
  { key: 'save_every', short: 'se', long: 'save_every', kind: 'integer', value: 'N', help: `snapshot every N steps, for --snapshots and --timelapse; 0 = never (default ${DEFAULTS.saveEvery})` },
  { key: 'size', short: 's', long: 'size', kind: 'size', value: 'W H', help: `picture size, rounded down to a multiple of the VQGAN factor (default ${DEFAULTS.width} ${DEFAULTS.height})` },
  { key: 'init_image', short: 'ii', long: 'init_image', kind: 'string', value: 'FILE', help: 'start from this picture' },
  { key: 'init_noise', short: 'in', long: 'init_noise', kind: 'string', value: 'KIND', help: 'start from noise: pixels or gradient' },
  { key: 'init_weight', short: 'iw', long: 'init_weight', kind: 'number', value: 'W', help: 'keep the latent near its start (default 0)' },
  { key: 'noise_prompt_seeds', short: 'nps', long: 'noise_prompt_seeds', kind: 'integers', value: 'SEED...', help: 'noise prompts: one seed each' },
  { key: 'noise_prompt_weights', short: 'npw', long: 'noise_prompt_weights', kind: 'numbers', value: 'W...', help: 'their weights (default 1 each)' },
  { key: 'learning_rate', short: 'lr', long: 'learning_rate', kind: 'number', value: 'LR', help: `step size (default ${DEFAULTS.lr})` },
  { key: 'optimiser', short: 'opt', long: 'optimiser', kind: 'string', value: 'NAME', help: `${OPTIMISERS.join(', ')} (default ${DEFAULTS.optimiser})` },
  { key: 'cut_method', short: 'cutm', long: 'cut_method', kind: 'string', value: 'M', help: `${CUT_METHODS.join(', ')} (default ${DEFAULTS.cutMethod})` },
  { key: 'num_cuts', short: 'cuts', long: 'num_cuts', kind: 'integer', value: 'N', help: `cutouts per step (default ${DEFAULTS.cutn})` },
  { key: 'cut_power', short: 'cutp', long: 'cut_power', kind: 'number', value: 'P', help: `cutout size power (default ${DEFAULTS.cutPow})` },
  { key: 'augments', short: 'aug', long: 'augments', kind: 'strings', value: 'A...', help: `augments of the cutouts: ${AUGMENTS.join(' ')} (default for latest: ${DEFAULT_AUGMENTS.latest.join(' ')})` },
  { key: 'seed', short: 'sd', long: 'seed', kind: 'integer', value: 'N', help: 'random seed (random when absent; printed)' },
  { key: 'output', short: 'o', long: 'output', kind: 'string', value: 'FILE', help: 'where to write the PNG (default output.png)' },
  { key: 'timelapse', long: 'timelapse', kind: 'string', value: 'FILE', help: 'also write the snapshots as an animation (.webp or .gif)' },
  { key: 'snapshots', long: 'snapshots', kind: 'string', value: 'DIR', help: 'write each snapshot as DIR/step-NNNN.png' },
  { key: 'upscale', long: 'upscale', kind: 'number', value: 'N', help: 'enlarge the final PNG N times (lanczos) for display' },
  { key: 'clip', long: 'clip', kind: 'string', value: 'DIR', help: `CLIP model folder (default $MODELS_DIR/${DEFAULT_CLIP_FOLDER})` },
  { key: 'vqgan', long: 'vqgan', kind: 'string', value: 'DIR', help: `VQGAN model folder (default $MODELS_DIR/${DEFAULT_VQGAN_FOLDER})` },
  { key: 'device', short: 'cd', long: 'device', kind: 'string', value: 'DEV', help: 'cpu (default) or cuda:N' },
  { key: 'threads', long: 'threads', kind: 'integer', value: 'N', help: 'ONNX Runtime threads (default: all cores)' },
  { key: 'json', long: 'json', kind: 'flag', help: 'one JSON object per step on stdout, then a final {"done":true,...}' },
  { key: 'help', short: 'h', long: 'help', kind: 'flag', help: 'show this help' },
];

/** Aliases of long names (the reference's spellings). */
const LONG_ALIASES: Record<string, string> = { cuda_device: 'device', optimizer: 'optimiser', iter: 'iterations', steps: 'iterations' };

const byShort = new Map(DEFS.filter((d) => d.short).map((d) => [d.short!, d]));
const byLong = new Map(DEFS.map((d) => [d.long, d]));

function lookup(token: string): Def | undefined {
  if (token.startsWith('--')) {
    const name = token.slice(2).replace(/-/g, '_');
    return byLong.get(LONG_ALIASES[name] ?? name);
  }
  return byShort.get(token.slice(1));
}

const NUMBERISH = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
/** `-x`, `--xyz`: an option token (negative numbers like -1 or -.5 are values). */
const looksLikeOption = (t: string): boolean => /^-{1,2}[A-Za-z]/.test(t) && !NUMBERISH.test(t);

export function helpText(): string {
  const rows = DEFS.map((d) => {
    const names = `${d.short ? `-${d.short}, ` : ''}--${d.long}${d.value ? ` ${d.value}` : ''}`;
    return [names, d.help] as const;
  });
  const w = Math.max(...rows.map(([n]) => n.length));
  return [
    'Usage: imagine "prompt" [options]        paint a picture with VQGAN+CLIP',
    '       imagine inspect <what> ...         run parts of the models on .npy files (imagine inspect --help)',
    '',
    'Options:',
    ...rows.map(([n, h]) => `  ${n.padEnd(w)}  ${h}`),
    '',
    'Examples:',
    '  imagine "a lighthouse in a storm:1 | fog:0.5" -i 300 -s 256 256 -o lighthouse.png --timelapse lighthouse.webp',
    '  imagine -p "an oil painting of a fox" -sd 42 -opt AdamW -lr 0.125 --json',
  ].join('\n');
}

function fail(msg: string): never {
  throw new UsageError(msg);
}

function num(name: string, v: string, integer: boolean): number {
  const n = NUMBERISH.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(`${name} expects ${integer ? 'a whole number' : 'a number'}, got "${v}"`);
  if (integer && !Number.isInteger(n)) fail(`${name} expects a whole number, got "${v}"`);
  return n;
}

/** Splits argv into typed options and positionals. Throws UsageError. */
export function parseRaw(argv: readonly string[]): { raw: RawOptions; positionals: string[] } {
  const raw: RawOptions = {};
  const positionals: string[] = [];
  const seen = new Set<string>();
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (onlyPositionals || !looksLikeOption(tok)) {
      if (!onlyPositionals && tok === '--') onlyPositionals = true;
      else positionals.push(tok);
      continue;
    }
    const eq = tok.startsWith('--') ? tok.indexOf('=') : -1;
    const flagTok = eq >= 0 ? tok.slice(0, eq) : tok;
    const inline = eq >= 0 ? tok.slice(eq + 1) : undefined;
    const def = lookup(flagTok);
    if (!def) fail(`unknown option ${flagTok}${suggest(flagTok)} (see imagine --help)`);
    const name = def.short && !flagTok.startsWith('--') ? `-${def.short}` : `--${def.long}`;
    if (seen.has(def.key)) fail(`${name} was given more than once`);
    seen.add(def.key);
    const set = <K extends keyof RawOptions>(k: K, v: RawOptions[K]) => {
      raw[k] = v;
    };
    if (def.kind === 'flag') {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') fail(`${name} is a flag and takes no value (got "${inline}")`);
      set(def.key, (inline ?? 'true') === 'true');
      continue;
    }
    // Values: the inline one, or the following tokens (lists take every token up to the next option).
    const values: string[] = [];
    if (inline !== undefined) values.push(inline);
    else if (def.kind === 'strings' || def.kind === 'integers' || def.kind === 'numbers') {
      while (i + 1 < argv.length && !looksLikeOption(argv[i + 1]!) && argv[i + 1] !== '--') values.push(argv[++i]!);
    } else if (def.kind === 'size') {
      while (values.length < 2 && i + 1 < argv.length && !looksLikeOption(argv[i + 1]!) && argv[i + 1] !== '--') {
        values.push(argv[++i]!);
        if (values.length === 1 && /^\d+x\d+$/i.test(values[0]!)) break;
      }
    } else if (i + 1 < argv.length && !(looksLikeOption(argv[i + 1]!) && lookup(argv[i + 1]!.split('=')[0]!))) {
      values.push(argv[++i]!);
    }
    if (!values.length) fail(`${name} needs a value${def.value ? ` (${def.value})` : ''}`);
    switch (def.kind) {
      case 'string':
        set(def.key, values[0]!);
        break;
      case 'number':
      case 'integer':
        set(def.key, num(name, values[0]!, def.kind === 'integer'));
        break;
      case 'strings':
        set(def.key, values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean));
        break;
      case 'integers':
      case 'numbers':
        set(def.key, values.flatMap((v) => v.split(',')).filter((v) => v.trim()).map((v) => num(name, v, def.kind === 'integers')));
        break;
      case 'size': {
        const parts = values.length === 1 ? values[0]!.split(/x/i) : values;
        if (parts.length !== 2) fail(`${name} needs two numbers, width and height (e.g. ${name} 256 256), got "${values.join(' ')}"`);
        set(def.key, [num(name, parts[0]!, true), num(name, parts[1]!, true)]);
        break;
      }
    }
  }
  return { raw, positionals };
}

function suggest(tok: string): string {
  const bare = tok.replace(/^-+/, '').replace(/-/g, '_');
  let best: { name: string; d: number } | undefined;
  for (const d of DEFS) {
    for (const cand of [d.long, d.short].filter((x): x is string => !!x)) {
      const dist = editDistance(bare, cand);
      if (!best || dist < best.d) best = { name: cand === d.long ? `--${d.long}` : `-${cand}`, d: dist };
    }
  }
  return best && best.d <= Math.max(1, Math.floor(bare.length / 3)) ? ` (did you mean ${best.name}?)` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

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
  /** the folders were not given and come from MODELS_DIR */
  defaultModels: { clip: boolean; vqgan: boolean };
  device: string;
  threads?: number;
  json: boolean;
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
export function parseImagineArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ImagineOptions {
  const { raw, positionals } = parseRaw(argv);
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

  const steps = raw.iterations ?? DEFAULTS.steps;
  range('-i', steps, 1, 100_000);
  const saveEvery = raw.save_every ?? DEFAULTS.saveEvery;
  range('-se', saveEvery, 0, Infinity);
  const [width, height] = raw.size ?? [DEFAULTS.width, DEFAULTS.height];
  range('-s', width, 1, 8192, ' (width)');
  range('-s', height, 1, 8192, ' (height)');
  if (raw.init_image !== undefined && raw.init_noise !== undefined) fail('give either -ii (init image) or -in (init noise), not both');
  if (raw.init_image !== undefined) mustBeFile('-ii', at(raw.init_image));
  if (raw.init_noise !== undefined && !(INIT_NOISES as readonly string[]).includes(raw.init_noise)) {
    fail(`-in must be ${INIT_NOISES.join(' or ')}, got "${raw.init_noise}"`);
  }
  const initWeight = raw.init_weight ?? DEFAULTS.initWeight;
  const lr = raw.learning_rate ?? DEFAULTS.lr;
  if (!(lr > 0) || lr > 100) fail(`-lr must be above 0 and at most 100, got ${lr}`);

  const optimiser = raw.optimiser ?? DEFAULTS.optimiser;
  const optName = OPTIMISERS.find((o) => o.toLowerCase() === optimiser.toLowerCase());
  if (!optName) fail(`-opt: unknown optimiser "${optimiser}": use one of ${OPTIMISERS.join(', ')}`);
  const cutMethod = (raw.cut_method ?? DEFAULTS.cutMethod) as CutMethod;
  if (!CUT_METHODS.includes(cutMethod)) fail(`-cutm: unknown cut method "${raw.cut_method}": use one of ${CUT_METHODS.join(', ')}`);
  const cutn = raw.num_cuts ?? DEFAULTS.cutn;
  range('-cuts', cutn, 1, 512);
  const cutPow = raw.cut_power ?? DEFAULTS.cutPow;
  if (!(cutPow > 0) || cutPow > 100) fail(`-cutp must be above 0 and at most 100, got ${cutPow}`);
  let augments: Augment[];
  try {
    augments = raw.augments ? parseAugments(raw.augments) : [...DEFAULT_AUGMENTS[cutMethod]];
  } catch (err) {
    fail(`-aug: ${(err as Error).message}`);
  }

  const seed = raw.seed;
  range('-sd', seed, 0, MAX_SEED);

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
    steps,
    saveEvery,
    width,
    height,
    ...(raw.init_image !== undefined ? { initImage: at(raw.init_image) } : {}),
    ...(raw.init_noise !== undefined ? { initNoise: raw.init_noise as 'pixels' | 'gradient' } : {}),
    initWeight,
    lr,
    optimiser: optName,
    cutMethod,
    cutn,
    cutPow,
    augments,
    ...(seed !== undefined ? { seed } : {}),
    output: at(output),
    ...(timelapse ? { timelapse } : {}),
    ...(raw.snapshots !== undefined ? { snapshots: at(raw.snapshots) } : {}),
    ...(raw.upscale !== undefined ? { upscale: raw.upscale } : {}),
    clipDir,
    vqganDir,
    defaultModels: { clip: raw.clip === undefined, vqgan: raw.vqgan === undefined },
    device,
    ...(raw.threads !== undefined ? { threads: raw.threads } : {}),
    json: raw.json ?? false,
  };
}
