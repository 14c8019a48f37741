/**
 * The options of `imagine` and how argv splits into them. The options that set a field of the request
 * come from the request schema (src/engine/request-schema.ts, the fields it offers to the CLI); the others
 * (files, output, models, device) are the CLI's own. imagine-options.ts checks the values.
 */
import { AUGMENTS, DEFAULT_AUGMENTS } from '../engine/generate/cutouts.ts';
import { DEFAULTS } from '../engine/generate/settings.ts';
import { REQUEST_FIELDS, snakeCase, type CliExposure, type RequestField, type RequestFields } from '../engine/request-schema.ts';
import { DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER } from '../model-files/layout.ts';
import { UsageError } from './args.ts';

type Kind = 'string' | 'number' | 'integer' | 'flag' | 'strings' | 'integers' | 'numbers' | 'size';

export interface Def {
  key: string;
  short?: string;
  long: string;
  kind: Kind;
  value?: string;
  help: string;
  /** the request field this option sets */
  field?: string;
}

/** Options as typed, before checks across options; request fields under their long option name. */
export interface RawOptions {
  prompts?: string;
  image_prompts?: string;
  size?: [number, number];
  init_image?: string;
  init_noise?: string;
  noise_prompt_seeds?: number[];
  noise_prompt_weights?: number[];
  augments?: string[];
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
  [requestOption: string]: string | number | boolean | string[] | number[] | undefined;
}

/** The CLI's own options; `field:` entries are where a request field's option goes in the help. */
const LAYOUT: (Def | { field: string })[] = [
  { key: 'prompts', short: 'p', long: 'prompts', kind: 'string', value: 'TEXT', help: 'text prompts, `|` separated, each text[:weight[:stop]] (or give the prompt as the argument)' },
  { key: 'image_prompts', short: 'ip', long: 'image_prompts', kind: 'string', value: 'FILES', help: 'image prompts, `|` separated, each path[:weight[:stop]]' },
  { field: 'steps' },
  { field: 'saveEvery' },
  { key: 'size', short: 's', long: 'size', kind: 'size', value: 'W H', help: `picture size, rounded down to a multiple of the VQGAN factor (default ${DEFAULTS.width} ${DEFAULTS.height})` },
  { key: 'init_image', short: 'ii', long: 'init_image', kind: 'string', value: 'FILE', help: 'start from this picture' },
  { key: 'init_noise', short: 'in', long: 'init_noise', kind: 'string', value: 'KIND', help: 'start from noise: pixels or gradient' },
  { field: 'initWeight' },
  { key: 'noise_prompt_seeds', short: 'nps', long: 'noise_prompt_seeds', kind: 'integers', value: 'SEED...', help: 'noise prompts: one seed each' },
  { key: 'noise_prompt_weights', short: 'npw', long: 'noise_prompt_weights', kind: 'numbers', value: 'W...', help: 'their weights (default 1 each)' },
  { field: 'lr' },
  { field: 'optimiser' },
  { field: 'cutMethod' },
  { field: 'cutn' },
  { field: 'cutPow' },
  { key: 'augments', short: 'aug', long: 'augments', kind: 'strings', value: 'A...', help: `augments of the cutouts: ${AUGMENTS.join(' ')} (default for latest: ${DEFAULT_AUGMENTS.latest.join(' ')})` },
  { field: 'seed' },
  // request fields not placed above go here
  { key: 'output', short: 'o', long: 'output', kind: 'string', value: 'FILE', help: 'where to write the PNG (default output.png)' },
  { key: 'timelapse', long: 'timelapse', kind: 'string', value: 'FILE', help: 'also write the snapshots as an animation (.webp or .gif)' },
  { key: 'snapshots', long: 'snapshots', kind: 'string', value: 'DIR', help: 'write each snapshot as DIR/step-NNNN.png' },
  { key: 'upscale', long: 'upscale', kind: 'number', value: 'N', help: 'enlarge the final PNG N times (lanczos) for display' },
  { key: 'image_size', long: 'image_size', kind: 'integer', value: 'N', help: 'a square picture of N pixels (big-sleep --image-size, deep-daze --image_width); BigGAN: 128, 256 or 512' },
  { key: 'text_min', long: 'text_min', kind: 'string', value: 'TEXT', help: 'prompts to paint away from, `|` separated (big-sleep --text-min; same as a negative weight)' },
  { key: 'class_temperature', long: 'class_temperature', kind: 'number', value: 'T', help: 'BigGAN: temperature of the --max_classes top-k (default 2)' },
  { key: 'ema_decay', long: 'ema_decay', kind: 'number', value: 'D', help: 'BigGAN: decay of the latents average the picture is drawn from (default 0.99)' },
  { key: 'bilinear', long: 'bilinear', kind: 'flag', help: 'BigGAN: resize the cutouts bilinearly (default nearest, as big-sleep)' },
  { key: 'num_layers', long: 'num_layers', kind: 'integer', value: 'N', help: 'SIREN: layers (default 16)' },
  { key: 'hidden_size', long: 'hidden_size', kind: 'integer', value: 'N', help: 'SIREN: width of each layer (default 256)' },
  { key: 'gradient_accumulate_every', long: 'gradient_accumulate_every', kind: 'integer', value: 'N', help: 'SIREN: passes of fresh cutouts per step (default 4)' },
  { key: 'averaging_weight', long: 'averaging_weight', kind: 'number', value: 'W', help: "SIREN: weight of the loss on the cutouts' mean embedding (default 0.3)" },
  { key: 'clip', long: 'clip', kind: 'string', value: 'DIR', help: `CLIP model folder (default $MODELS_DIR/${DEFAULT_CLIP_FOLDER})` },
  { key: 'vqgan', long: 'vqgan', kind: 'string', value: 'DIR', help: `VQGAN model folder (default $MODELS_DIR/${DEFAULT_VQGAN_FOLDER})` },
  { key: 'biggan', long: 'biggan', kind: 'string', value: 'DIR', help: 'BigGAN-deep folder (default $MODELS_DIR/$BIGGAN_MODEL, else biggan-deep-SIZE)' },
  { key: 'device', short: 'cd', long: 'device', kind: 'string', value: 'DEV', help: 'cpu (default) or cuda:N' },
  { key: 'threads', long: 'threads', kind: 'integer', value: 'N', help: 'ONNX Runtime threads (default: all cores)' },
  { key: 'json', long: 'json', kind: 'flag', help: 'one JSON object per step on stdout, then a final {"done":true,...}' },
  { key: 'help', short: 'h', long: 'help', kind: 'flag', help: 'show this help' },
];

/** Aliases of long names (the reference's spellings). */
const LONG_ALIASES: Record<string, string> = {
  cuda_device: 'device', optimizer: 'optimiser', iter: 'iterations', steps: 'iterations',
  // big-sleep's dream and deep-daze's imagine
  lr: 'learning_rate', num_cutouts: 'num_cuts', batch_size: 'num_cuts', image_width: 'image_size',
};

function requestDef(field: string, def: RequestField & { cli?: CliExposure }): Def {
  const long = def.cli?.long ?? snakeCase(field);
  const kinds: Partial<Record<RequestField['kind'], Kind>> = { integer: 'integer', number: 'number', choice: 'string', text: 'string', texts: 'strings', integers: 'integers', numbers: 'numbers' };
  const help = def.cli?.help ?? (def.kind === 'choice' ? (def.choices ?? []).join(', ') : def.help);
  return {
    key: long,
    long,
    kind: kinds[def.kind]!,
    help: `${help}${def.default !== undefined ? ` (default ${def.default})` : ''}`,
    field,
    ...(def.cli?.short ? { short: def.cli.short } : {}),
    ...(def.cli?.value ? { value: def.cli.value } : {}),
  };
}

/** Every option, in help order: the CLI's own and one per request field offered to the CLI. */
export function cliDefs(fields: RequestFields = REQUEST_FIELDS): Def[] {
  const offered = Object.entries(fields).filter((e): e is [string, RequestField & { cli?: CliExposure }] => e[1].cli !== false);
  const placed = new Set(LAYOUT.filter((d) => !('kind' in d)).map((d) => d.field));
  const out: Def[] = [];
  for (const d of LAYOUT) {
    if (!('kind' in d)) {
      const def = fields[d.field!];
      if (def && def.cli !== false) out.push(requestDef(d.field!, def));
      continue;
    }
    if (d.key === 'output') for (const [k, def] of offered) if (!placed.has(k)) out.push(requestDef(k, def));
    out.push(d);
  }
  return out;
}

interface Table {
  defs: Def[];
  byShort: Map<string, Def>;
  byLong: Map<string, Def>;
}

const tables = new WeakMap<RequestFields, Table>();
export function optionTable(fields: RequestFields = REQUEST_FIELDS): Table {
  let t = tables.get(fields);
  if (!t) {
    const defs = cliDefs(fields);
    t = { defs, byShort: new Map(defs.filter((d) => d.short).map((d) => [d.short!, d])), byLong: new Map(defs.map((d) => [d.long, d])) };
    tables.set(fields, t);
  }
  return t;
}

function lookup(t: Table, token: string): Def | undefined {
  if (token.startsWith('--')) {
    const name = token.slice(2).replace(/-/g, '_');
    return t.byLong.get(LONG_ALIASES[name] ?? name);
  }
  return t.byShort.get(token.slice(1));
}

export const NUMBERISH = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
/** `-x`, `--xyz`: an option token (negative numbers like -1 or -.5 are values). */
const looksLikeOption = (t: string): boolean => /^-{1,2}[A-Za-z]/.test(t) && !NUMBERISH.test(t);

export function helpText(fields: RequestFields = REQUEST_FIELDS): string {
  const rows = optionTable(fields).defs.map((d) => {
    const names = `${d.short ? `-${d.short}, ` : ''}--${d.long}${d.value ? ` ${d.value}` : ''}`;
    return [names, d.help] as const;
  });
  const w = Math.max(...rows.map(([n]) => n.length));
  return [
    'Usage: imagine "prompt" [options]        paint a picture with VQGAN+CLIP (--model biggan: BigGAN+CLIP, --model siren: SIREN+CLIP)',
    '       imagine inspect <what> ...         run parts of the models on .npy files (imagine inspect --help)',
    '',
    'Options:',
    ...rows.map(([n, h]) => `  ${n.padEnd(w)}  ${h}`),
    '',
    'Examples:',
    '  imagine "a lighthouse in a storm:1 | fog:0.5" -i 300 -s 256 256 -o lighthouse.png --timelapse lighthouse.webp',
    '  imagine -p "an oil painting of a fox" -sd 42 -opt AdamW -lr 0.125 --json',
    '  imagine "a pyramid made of ice" --model biggan --image-size 256 --save-every 25 --timelapse ice.webp',
    '  imagine "a house in the forest" --model siren --num_layers 16 --learning_rate 1e-5',
  ].join('\n');
}

export function fail(msg: string): never {
  throw new UsageError(msg);
}

function num(name: string, v: string, integer: boolean): number {
  const n = NUMBERISH.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(`${name} expects ${integer ? 'a whole number' : 'a number'}, got "${v}"`);
  if (integer && !Number.isInteger(n)) fail(`${name} expects a whole number, got "${v}"`);
  return n;
}

/** Splits argv into typed options and positionals. Throws UsageError. */
export function parseRaw(argv: readonly string[], fields: RequestFields = REQUEST_FIELDS): { raw: RawOptions; positionals: string[] } {
  const t = optionTable(fields);
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
    const def = lookup(t, flagTok);
    if (!def) fail(`unknown option ${flagTok}${suggest(t, flagTok)} (see imagine --help)`);
    const name = def.short && !flagTok.startsWith('--') ? `-${def.short}` : `--${def.long}`;
    if (seen.has(def.key)) fail(`${name} was given more than once`);
    seen.add(def.key);
    const set = (k: string, v: RawOptions[string]) => {
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
    } else if (i + 1 < argv.length && !(looksLikeOption(argv[i + 1]!) && lookup(t, argv[i + 1]!.split('=')[0]!))) {
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

function suggest(t: Table, tok: string): string {
  const bare = tok.replace(/^-+/, '').replace(/-/g, '_');
  let best: { name: string; d: number } | undefined;
  for (const d of t.defs) {
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

