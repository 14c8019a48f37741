/** The configuration's variables: each one's schema, default, documentation and group (VARIABLES). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The variables at fault, in the order they were reported. */
  readonly variables: string[];
  constructor(message: string, variables: string[]) {
    super(message);
    this.variables = variables;
  }
}

/** One compute device: `cpu`, or `cuda:<n>` (ONNX Runtime CUDA execution provider with deviceId n). */
export interface DeviceSpec {
  /** Canonical name: "cpu" or "cuda:0". */
  name: string;
  provider: 'cpu' | 'cuda';
  /** CUDA device ordinal; 0 for cpu. */
  deviceId: number;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SNOWFLAKE = /^\d{17,20}$/;
const DEVICE_ITEM = /^(cpu|cuda(:\d{1,2})?)$/;

export function parseDevices(raw: string): DeviceSpec[] | undefined {
  const items = raw.split(',').map((s) => s.trim().toLowerCase());
  if (items.length === 0 || items.some((s) => !DEVICE_ITEM.test(s))) return undefined;
  const devices = items.map((s): DeviceSpec => {
    if (s === 'cpu') return { name: 'cpu', provider: 'cpu', deviceId: 0 };
    const id = s.includes(':') ? Number(s.split(':')[1]) : 0;
    return { name: `cuda:${id}`, provider: 'cuda', deviceId: id };
  });
  if (new Set(devices.map((d) => d.name)).size !== devices.length) return undefined;
  return devices;
}

function int(min: number, max: number) {
  return z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));
}

/** "90s", "30m", "6h", "1d", or a bare number of seconds; "0" or "off" → 0. Milliseconds. */
export function parseDuration(raw: string): number | undefined {
  const t = raw.trim().toLowerCase();
  if (t === '0' || t === 'off') return 0;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(t);
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Math.round(Number(m[1]) * unit);
  return ms >= 1000 || ms === 0 ? ms : undefined;
}

function httpUrl() {
  return z
    .string()
    .refine((s) => {
      try {
        const u = new URL(s);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    })
    .transform((s) => s.replace(/\/+$/, ''));
}

export interface VariableDef<T> {
  /** zod schema applied to the raw string (empty strings count as unset). */
  schema: z.ZodType<T, string>;
  /** What a good value looks like, for the one-line error ("expected ..."). */
  expects: string;
  /** Default as written in .env.example / README; undefined = no default. */
  default?: string;
  /** Default computed at load time (e.g. from the number of cores). */
  dynamicDefault?: () => string;
  /** How the default is described in docs when it is computed. */
  defaultDoc?: string;
  required?: boolean;
  /** A sample value for .env.example when there is no fixed default. */
  example?: string;
  /** One line for .env.example and the README table. */
  doc: string;
  /** Variables that only models:pull or tests normally touch. */
  group: 'discord' | 'engine' | 'limits' | 'storage' | 'operations' | 'models';
}

function v<T>(def: VariableDef<T>): VariableDef<T> {
  return def;
}

/**
 * The schema, in one place. Order here is the order of .env.example and the README table.
 */
export const VARIABLES = {
  DISCORD_TOKEN: v({
    schema: z.string().regex(/^\S{20,}$/),
    expects: 'the bot token from the Discord Developer Portal (Bot → Reset Token)',
    required: true,
    doc: 'Bot token (Developer Portal → your application → Bot → Reset Token). Required by `npm start`. Keep it secret.',
    group: 'discord',
  }),
  DISCORD_APP_ID: v({
    schema: z.string().regex(SNOWFLAKE),
    expects: 'the application id, a 17–20 digit snowflake',
    defaultDoc: 'read from the token',
    doc: 'Application id (Developer Portal → General Information). Used to register slash commands; derived from the token when unset.',
    group: 'discord',
  }),
  DISCORD_GUILD_ID: v({
    schema: z.string().regex(SNOWFLAKE),
    expects: 'a server (guild) id, a 17–20 digit snowflake',
    doc: 'Register slash commands in this one server only (instant). Unset: global commands (can take up to an hour to appear).',
    group: 'discord',
  }),
  REGISTER_COMMANDS: v({
    schema: z.enum(['auto', 'off']),
    expects: '"auto" or "off"',
    default: 'auto',
    doc: 'auto: register the slash commands at start when their definitions changed since the last registration (a hash kept in the store). off: only `npm run register` registers them.',
    group: 'discord',
  }),
  DISCORD_API_URL: v({
    schema: httpUrl(),
    expects: 'an http(s) URL such as "https://discord.com/api" or "http://127.0.0.1:8080/api"',
    default: 'https://discord.com/api',
    doc: 'Discord REST base URL; point it at a REST proxy (e.g. nirn-proxy). The gateway URL is then asked from `GET /gateway/bot` on this base.',
    group: 'discord',
  }),
  DEVICES: v({
    schema: z.string().transform((s, ctx) => {
      const d = parseDevices(s);
      if (!d) {
        ctx.addIssue({ code: 'custom', message: 'bad device list' });
        return z.NEVER;
      }
      return d;
    }),
    expects: '"cpu" or a comma list like "cuda:0,cuda:1" (each device once)',
    default: 'cpu',
    doc: 'Where pictures are painted: `cpu`, `cuda:0`, `cuda:0,cuda:1`, `cpu,cuda:0`. One worker thread and one queue per device. CUDA needs the GPU install (see GPUs).',
    group: 'engine',
  }),
  THREADS_PER_DEVICE: v({
    schema: int(1, 1024),
    expects: 'a whole number of threads ≥ 1',
    dynamicDefault: () => String(typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length),
    defaultDoc: 'number of CPU cores',
    example: '4',
    doc: 'ONNX Runtime intra-op threads per device worker.',
    group: 'engine',
  }),
  ENGINE_MEMORY: v({
    schema: z.enum(['lean', 'fast']),
    expects: '"lean" or "fast"',
    default: 'fast',
    doc: "fast: ONNX Runtime keeps a step's working memory in its CPU arena and reuses it, so no page is faulted in again each step, and pre-packs the weights of matrix products. lean: neither: slower CPU steps (4.56 against 3.80 s for a 256² / 32-cutout step on the 2-core development machine) for a little less peak memory (2828 against 2971 MB there; 2826–2997 MB in other runs). GPUs are not affected.",
    group: 'engine',
  }),
  MODELS_DIR: v({
    schema: z.string().min(1),
    expects: 'a folder path',
    default: './models',
    doc: 'Folder holding the weights (`npm run models:pull` fills it). Relative paths are from the working directory.',
    group: 'models',
  }),
  CLIP_MODEL: v({
    schema: z.string().regex(/^[^\0]+$/),
    expects: 'a folder name under MODELS_DIR (or an absolute path)',
    default: 'clip-vit-b-32',
    doc: 'CLIP model folder under MODELS_DIR (open_clip_model.safetensors or pytorch_model.bin + vocab.json + merges.txt).',
    group: 'models',
  }),
  VQGAN_MODEL: v({
    schema: z.string().regex(/^[^\0]+$/),
    expects: 'a folder name under MODELS_DIR (or an absolute path)',
    default: 'vqgan-imagenet-f16-16384',
    doc: 'VQGAN model folder under MODELS_DIR (a taming-transformers .ckpt + model.yaml), e.g. another VQGAN you put there by hand.',
    group: 'models',
  }),
  BIGGAN_MODEL: v({
    schema: z.string().regex(/^[^\0]+$/),
    expects: 'a folder name under MODELS_DIR (or an absolute path)',
    default: 'biggan-deep-256',
    doc: 'BigGAN-deep folder under MODELS_DIR (config.json + pytorch_model.bin) for /imagine model:biggan; biggan-deep-128 and -512 beside it serve those sizes.',
    group: 'models',
  }),
  WHISPER_MODEL: v({
    schema: z.string().regex(/^[^\0]+$/),
    expects: 'a .pt file path under MODELS_DIR (or an absolute path)',
    default: 'whisper/base.pt',
    doc: 'Whisper checkpoint for voice prompts (`npm run models:pull -- --whisper base` fetches it with its tokenizer rank file beside it).',
    group: 'models',
  }),
  REVERIE_HF_BASE: v({
    schema: httpUrl(),
    expects: 'an http(s) URL such as "https://huggingface.co"',
    default: 'https://huggingface.co',
    doc: 'Hugging Face base URL used by `npm run models:pull` (a mirror, or a local server in tests).',
    group: 'models',
  }),
  REVERIE_HEIBOX_BASE: v({
    schema: httpUrl(),
    expects: 'an http(s) URL such as "https://heibox.uni-heidelberg.de"',
    default: 'https://heibox.uni-heidelberg.de',
    doc: 'heibox (Heidelberg University Seafile) base URL used by `npm run models:pull` for the VQGAN files.',
    group: 'models',
  }),
  DATA_DIR: v({
    schema: z.string().min(1),
    expects: 'a folder path',
    default: './data',
    doc: 'Where snapshots, results and timelapses are written.',
    group: 'storage',
  }),
  DB_PATH: v({
    schema: z.string().min(1),
    expects: 'a file path',
    default: './data/reverie.db',
    doc: 'SQLite job store (WAL mode). Jobs resume from it after a restart.',
    group: 'storage',
  }),
  BACKUP_EVERY: v({
    schema: z.string().transform((s, ctx) => {
      const ms = parseDuration(s);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: 'bad duration' });
        return z.NEVER;
      }
      return ms;
    }),
    expects: 'a duration like "6h", "30m" or "1d", or 0 for no backups',
    default: '6h',
    doc: 'An online backup of the job store into DATA_DIR/backups at start and then this often (`npm run restore` puts one back). 0: none.',
    group: 'storage',
  }),
  BACKUP_KEEP: v({
    schema: int(1, 10_000),
    expects: 'a whole number of backups ≥ 1',
    default: '7',
    doc: 'How many backups to keep (the oldest go first).',
    group: 'storage',
  }),
  RETENTION_DAYS: v({
    schema: int(0, 100_000),
    expects: 'a whole number of days ≥ 0 (0 keeps results for ever)',
    default: '0',
    doc: 'Delete the pictures and timelapses of jobs that ended this many days ago. 0: keep them for ever.',
    group: 'storage',
  }),
  MIN_FREE_MB: v({
    schema: int(0, 100_000_000),
    expects: 'a whole number of megabytes ≥ 0',
    default: '500',
    doc: 'New jobs are refused politely (and /healthz says so) while the data folder has less free space than this. 0: no check.',
    group: 'storage',
  }),
  MAX_QUEUED_PER_USER: v({
    schema: int(1, 10_000),
    expects: 'a whole number ≥ 1',
    default: '3',
    doc: 'Jobs one user may have waiting or running at once.',
    group: 'limits',
  }),
  MAX_QUEUE: v({
    schema: int(1, 1_000_000),
    expects: 'a whole number ≥ 1',
    default: '100',
    doc: 'Jobs waiting or running in total; further requests are refused politely.',
    group: 'limits',
  }),
  DEFAULT_STEPS: v({
    schema: int(1, 100_000),
    expects: 'a whole number of steps ≥ 1 (and ≤ MAX_STEPS)',
    default: '200',
    doc: 'Optimisation steps when the user does not say.',
    group: 'limits',
  }),
  MAX_STEPS: v({
    schema: int(1, 100_000),
    expects: 'a whole number of steps ≥ 1',
    default: '500',
    doc: 'Most steps a user may ask for.',
    group: 'limits',
  }),
  DEFAULT_SIZE: v({
    schema: int(64, 8192),
    expects: 'a side length in pixels, 64–8192 (and ≤ MAX_SIZE)',
    default: '256',
    doc: 'Longest side of a picture in pixels when the user does not say (rounded down to a multiple of the VQGAN factor, 16).',
    group: 'limits',
  }),
  MAX_SIZE: v({
    schema: int(64, 8192),
    expects: 'a side length in pixels, 64–8192',
    default: '512',
    doc: 'Largest side a user may ask for. Time and memory grow with the square of the side.',
    group: 'limits',
  }),
  DEFAULT_CUTN: v({
    schema: int(1, 256),
    expects: 'a whole number of cutouts, 1–256',
    default: '32',
    doc: 'CLIP cutouts per step when the user does not say (more: steadier, slower).',
    group: 'limits',
  }),
  SAVE_EVERY: v({
    schema: int(1, 100_000),
    expects: 'a whole number of steps ≥ 1',
    default: '25',
    doc: 'A progress snapshot (and checkpoint) every this many steps.',
    group: 'limits',
  }),
  MAX_AUDIO_SECONDS: v({
    schema: int(1, 600),
    expects: 'a whole number of seconds, 1–600',
    default: '60',
    doc: 'Longest voice message or audio clip transcribed for a prompt.',
    group: 'limits',
  }),
  HTTP_PORT: v({
    schema: int(1, 65_535),
    expects: 'a TCP port, 1–65535',
    defaultDoc: 'off',
    example: '9464',
    doc: 'Serve `/healthz` and `/metrics` on 127.0.0.1:HTTP_PORT (loopback only). Unset: no HTTP server.',
    group: 'operations',
  }),
  LOG_LEVEL: v({
    schema: z.enum(LOG_LEVELS),
    expects: `one of ${LOG_LEVELS.join(', ')}`,
    default: 'info',
    doc: 'pino log level. Logs are JSON lines on stdout; tokens and attachment URL query strings are redacted.',
    group: 'operations',
  }),
} as const;

export type VariableName = keyof typeof VARIABLES;
export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];
