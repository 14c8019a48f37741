/**
 * Configuration: environment variables (optionally from a `.env` file in the working directory),
 * validated with zod. Every variable is declared once, in VARIABLES (config-variables.ts); .env.example and the
 * README's configuration table are checked against it by test/config.test.ts.
 *
 * A missing or malformed value throws ConfigError, whose message is a single line naming the variable
 * and what it expects, e.g.
 *   DEVICES: expected "cpu" or a comma list like "cuda:0,cuda:1", got "gpu0"
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
export * from './config-variables.ts';
import { ConfigError, VARIABLES, VARIABLE_NAMES, type DeviceSpec, type Env, type LogLevel, type VariableDef, type VariableName } from './config-variables.ts';

export interface Config {
  discordToken: string;
  /** From DISCORD_APP_ID, else decoded from the token; undefined when neither gives one. */
  discordAppId: string | undefined;
  discordGuildId: string | undefined;
  /** REGISTER_COMMANDS=auto: register at start when the definitions changed */
  registerCommands: boolean;
  /** REST base without a trailing slash, e.g. "https://discord.com/api". */
  discordApiUrl: string;
  devices: DeviceSpec[];
  threadsPerDevice: number;
  /** ENGINE_MEMORY: fast (ORT's CPU arena, pre-packed weights; the default) or lean */
  engineMemory: 'fast' | 'lean';
  /** Absolute paths (resolved against the working directory). */
  modelsDir: string;
  clipModel: string;
  vqganModel: string;
  bigganModel: string;
  /** Absolute path of the Whisper checkpoint (WHISPER_MODEL under MODELS_DIR). */
  whisperModel: string;
  hfBase: string;
  heiboxBase: string;
  dataDir: string;
  dbPath: string;
  /** ms between job store backups; 0 = none */
  backupEveryMs: number;
  backupKeep: number;
  /** 0 = keep results for ever */
  retentionDays: number;
  /** 0 = no disk-space guard */
  minFreeMb: number;
  maxQueuedPerUser: number;
  maxQueue: number;
  defaultSteps: number;
  maxSteps: number;
  defaultSize: number;
  maxSize: number;
  defaultCutn: number;
  saveEvery: number;
  maxAudioSeconds: number;
  /** Loopback port for /healthz and /metrics; undefined = off. */
  httpPort: number | undefined;
  logLevel: LogLevel;
}

/** Config for tools that do not talk to Discord (models:pull, the imagine CLI). */
export type LocalConfig = Omit<Config, 'discordToken'> & { discordToken: string | undefined };

export interface LoadOptions {
  /** Insist on DISCORD_TOKEN (default true: the bot needs it). */
  requireToken?: boolean;
  /**
   * The .env file to read first (values never override variables already set). Default: `.env` in the
   * working directory when env is process.env, none otherwise. false: read no file.
   */
  envFile?: string | false;
  /** Base for relative paths; default process.cwd(). */
  cwd?: string;
}

export { appIdFromToken, loadDotenv } from './config-env.ts';
import { appIdFromToken, loadDotenv } from './config-env.ts';

function show(raw: string): string {
  const s = raw.length > 60 ? `${raw.slice(0, 57)}...` : raw;
  return JSON.stringify(s);
}

export function loadConfig(env?: Env): Config;
export function loadConfig(env: Env, opts: LoadOptions & { requireToken: false }): LocalConfig;
export function loadConfig(env: Env, opts?: LoadOptions): Config;
export function loadConfig(env: Env = process.env, opts: LoadOptions = {}): Config | LocalConfig {
  const requireToken = opts.requireToken ?? true;
  const cwd = opts.cwd ?? process.cwd();
  const envFile = opts.envFile ?? (env === process.env ? path.resolve(cwd, '.env') : false);
  if (envFile !== false) loadDotenv(path.resolve(cwd, envFile), env);

  const values: Record<string, unknown> = {};
  const problems: { name: string; line: string }[] = [];
  for (const name of VARIABLE_NAMES) {
    const def: VariableDef<unknown> = VARIABLES[name];
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') {
      if (def.required && (name !== 'DISCORD_TOKEN' || requireToken)) {
        problems.push({ name, line: `${name}: missing; expected ${def.expects}` });
        continue;
      }
      const dflt = def.dynamicDefault?.() ?? def.default;
      if (dflt === undefined) {
        values[name] = undefined;
        continue;
      }
      const r = def.schema.safeParse(dflt);
      if (!r.success) throw new Error(`internal: default of ${name} does not validate`);
      values[name] = r.data;
      continue;
    }
    // Secrets are never echoed back.
    const shown = name === 'DISCORD_TOKEN' ? `a ${raw.length}-character value` : show(raw);
    const r = def.schema.safeParse(raw);
    if (!r.success) problems.push({ name, line: `${name}: expected ${def.expects}, got ${shown}` });
    else values[name] = r.data;
  }

  const num = (n: VariableName) => values[n] as number;
  if (!problems.some((p) => p.name === 'DEFAULT_STEPS' || p.name === 'MAX_STEPS') && num('DEFAULT_STEPS') > num('MAX_STEPS')) {
    problems.push({ name: 'DEFAULT_STEPS', line: `DEFAULT_STEPS: expected at most MAX_STEPS (${num('MAX_STEPS')}), got ${num('DEFAULT_STEPS')}` });
  }
  if (!problems.some((p) => p.name === 'DEFAULT_SIZE' || p.name === 'MAX_SIZE') && num('DEFAULT_SIZE') > num('MAX_SIZE')) {
    problems.push({ name: 'DEFAULT_SIZE', line: `DEFAULT_SIZE: expected at most MAX_SIZE (${num('MAX_SIZE')}), got ${num('DEFAULT_SIZE')}` });
  }

  if (problems.length > 0) {
    throw new ConfigError(problems.map((p) => p.line).join('; '), problems.map((p) => p.name));
  }

  const token = values.DISCORD_TOKEN as string | undefined;
  const abs = (p: string) => path.resolve(cwd, p);
  const modelsDir = abs(values.MODELS_DIR as string);
  return {
    discordToken: token as string,
    discordAppId: (values.DISCORD_APP_ID as string | undefined) ?? (token ? appIdFromToken(token) : undefined),
    discordGuildId: values.DISCORD_GUILD_ID as string | undefined,
    registerCommands: values.REGISTER_COMMANDS !== 'off',
    discordApiUrl: values.DISCORD_API_URL as string,
    devices: values.DEVICES as DeviceSpec[],
    threadsPerDevice: num('THREADS_PER_DEVICE'),
    engineMemory: values.ENGINE_MEMORY === 'lean' ? 'lean' : 'fast',
    modelsDir,
    clipModel: values.CLIP_MODEL as string,
    vqganModel: values.VQGAN_MODEL as string,
    bigganModel: values.BIGGAN_MODEL as string,
    whisperModel: path.resolve(modelsDir, values.WHISPER_MODEL as string),
    hfBase: values.REVERIE_HF_BASE as string,
    heiboxBase: values.REVERIE_HEIBOX_BASE as string,
    dataDir: abs(values.DATA_DIR as string),
    dbPath: abs(values.DB_PATH as string),
    backupEveryMs: num('BACKUP_EVERY'),
    backupKeep: num('BACKUP_KEEP'),
    retentionDays: num('RETENTION_DAYS'),
    minFreeMb: num('MIN_FREE_MB'),
    maxQueuedPerUser: num('MAX_QUEUED_PER_USER'),
    maxQueue: num('MAX_QUEUE'),
    defaultSteps: num('DEFAULT_STEPS'),
    maxSteps: num('MAX_STEPS'),
    defaultSize: num('DEFAULT_SIZE'),
    maxSize: num('MAX_SIZE'),
    defaultCutn: num('DEFAULT_CUTN'),
    saveEvery: num('SAVE_EVERY'),
    maxAudioSeconds: num('MAX_AUDIO_SECONDS'),
    httpPort: values.HTTP_PORT as number | undefined,
    logLevel: values.LOG_LEVEL as LogLevel,
  };
}
