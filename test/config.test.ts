import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appIdFromToken, ConfigError, loadConfig, loadDotenv, parseDevices, VARIABLE_NAMES, VARIABLES } from '../src/config.ts';
import { repoRoot } from './helpers/fixtures.ts';

const TOKEN = `${Buffer.from('123456789012345678').toString('base64')}.GxYzAb.abcdefghijklmnopqrstuvwxyz0123456789`;
const base = { DISCORD_TOKEN: TOKEN };

function error(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base, { cwd: '/srv/reverie' });
    expect(c).toMatchObject({
      discordToken: TOKEN,
      discordAppId: '123456789012345678',
      discordGuildId: undefined,
      discordApiUrl: 'https://discord.com/api',
      devices: [{ name: 'cpu', provider: 'cpu', deviceId: 0 }],
      modelsDir: '/srv/reverie/models',
      clipModel: 'clip-vit-b-32',
      vqganModel: 'vqgan-imagenet-f16-16384',
      hfBase: 'https://huggingface.co',
      heiboxBase: 'https://heibox.uni-heidelberg.de',
      dataDir: '/srv/reverie/data',
      dbPath: '/srv/reverie/data/reverie.db',
      maxQueuedPerUser: 3,
      maxQueue: 100,
      defaultSteps: 200,
      maxSteps: 500,
      defaultSize: 256,
      maxSize: 512,
      defaultCutn: 32,
      saveEvery: 25,
      httpPort: undefined,
      logLevel: 'info',
    });
    expect(c.threadsPerDevice).toBe(os.availableParallelism());
    expect(c.engineMemory).toBe('fast');
  });

  it('ENGINE_MEMORY: fast or lean; anything else is refused', () => {
    expect(loadConfig({ ...base, ENGINE_MEMORY: 'fast' }).engineMemory).toBe('fast');
    expect(loadConfig({ ...base, ENGINE_MEMORY: 'lean' }).engineMemory).toBe('lean');
    expect(() => loadConfig({ ...base, ENGINE_MEMORY: 'huge' })).toThrow(/ENGINE_MEMORY/);
  });

  it('reads every variable', () => {
    const c = loadConfig({
      ...base,
      DISCORD_APP_ID: '987654321098765432',
      DISCORD_GUILD_ID: '111111111111111111',
      DISCORD_API_URL: 'http://127.0.0.1:8080/api/',
      DEVICES: 'cpu, CUDA:1',
      THREADS_PER_DEVICE: '3',
      MODELS_DIR: '/w',
      CLIP_MODEL: 'clip-b16',
      VQGAN_MODEL: 'vq1024',
      REVERIE_HF_BASE: 'http://127.0.0.1:9/',
      REVERIE_HEIBOX_BASE: 'http://127.0.0.1:10',
      DATA_DIR: '/d',
      DB_PATH: '/d/x.db',
      MAX_QUEUED_PER_USER: '5',
      MAX_QUEUE: '7',
      DEFAULT_STEPS: '50',
      MAX_STEPS: '60',
      DEFAULT_SIZE: '128',
      MAX_SIZE: '1024',
      DEFAULT_CUTN: '8',
      SAVE_EVERY: '10',
      HTTP_PORT: '9464',
      LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      discordAppId: '987654321098765432',
      discordGuildId: '111111111111111111',
      discordApiUrl: 'http://127.0.0.1:8080/api',
      devices: [
        { name: 'cpu', provider: 'cpu', deviceId: 0 },
        { name: 'cuda:1', provider: 'cuda', deviceId: 1 },
      ],
      threadsPerDevice: 3,
      modelsDir: '/w',
      clipModel: 'clip-b16',
      vqganModel: 'vq1024',
      hfBase: 'http://127.0.0.1:9',
      heiboxBase: 'http://127.0.0.1:10',
      dbPath: '/d/x.db',
      maxQueuedPerUser: 5,
      maxQueue: 7,
      defaultSteps: 50,
      maxSteps: 60,
      defaultSize: 128,
      maxSize: 1024,
      defaultCutn: 8,
      saveEvery: 10,
      httpPort: 9464,
      logLevel: 'debug',
    });
  });

  it('a missing token is one line naming DISCORD_TOKEN', () => {
    const e = error({});
    expect(e.message).toBe('DISCORD_TOKEN: missing; expected the bot token from the Discord Developer Portal (Bot → Reset Token)');
    expect(e.variables).toEqual(['DISCORD_TOKEN']);
    expect(error({ DISCORD_TOKEN: '   ' }).variables).toEqual(['DISCORD_TOKEN']);
  });

  it('tools that do not talk to Discord can go without a token', () => {
    const c = loadConfig({}, { requireToken: false });
    expect(c.discordToken).toBeUndefined();
    expect(c.discordAppId).toBeUndefined();
  });

  it('malformed values: one line naming the variable, what it expects and what it got', () => {
    expect(error({ ...base, DEVICES: 'gpu0' }).message).toBe('DEVICES: expected "cpu" or a comma list like "cuda:0,cuda:1" (each device once), got "gpu0"');
    expect(error({ ...base, DEVICES: 'cuda:0,cuda:0' }).variables).toEqual(['DEVICES']);
    expect(error({ ...base, DEVICES: 'cpu,' }).variables).toEqual(['DEVICES']);
    expect(error({ ...base, MAX_STEPS: 'lots' }).message).toBe('MAX_STEPS: expected a whole number of steps ≥ 1, got "lots"');
    expect(error({ ...base, MAX_QUEUE: '0' }).variables).toEqual(['MAX_QUEUE']);
    expect(error({ ...base, MAX_QUEUE: '2.5' }).variables).toEqual(['MAX_QUEUE']);
    expect(error({ ...base, HTTP_PORT: '70000' }).message).toBe('HTTP_PORT: expected a TCP port, 1–65535, got "70000"');
    expect(error({ ...base, DISCORD_APP_ID: '12ab' }).message).toMatch(/^DISCORD_APP_ID: expected the application id, a 17–20 digit snowflake, got "12ab"$/);
    expect(error({ ...base, DISCORD_API_URL: 'discord.com/api' }).variables).toEqual(['DISCORD_API_URL']);
    expect(error({ ...base, LOG_LEVEL: 'verbose' }).message).toBe('LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"');
    expect(error({ ...base, DEFAULT_STEPS: '600' }).message).toBe('DEFAULT_STEPS: expected at most MAX_STEPS (500), got 600');
    expect(error({ ...base, DEFAULT_SIZE: '1024' }).message).toBe('DEFAULT_SIZE: expected at most MAX_SIZE (512), got 1024');
  });

  it('reports several problems on one line, and never echoes the token', () => {
    const e = error({ DISCORD_TOKEN: 'short secret', DEVICES: 'tpu' });
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.variables).toEqual(['DISCORD_TOKEN', 'DEVICES']);
    expect(e.message).not.toContain('short secret');
    expect(e.message).toContain('DISCORD_TOKEN: expected the bot token');
  });

  it('treats empty values (as in a copied .env.example) as unset', () => {
    const c = loadConfig({ ...base, DISCORD_APP_ID: '', DISCORD_GUILD_ID: '', HTTP_PORT: '', DEVICES: '' });
    expect(c.discordGuildId).toBeUndefined();
    expect(c.httpPort).toBeUndefined();
    expect(c.devices.map((d) => d.name)).toEqual(['cpu']);
  });

  it('reads .env without overriding real variables', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-env-'));
    try {
      fs.writeFileSync(path.join(dir, '.env'), `DISCORD_TOKEN=${TOKEN}\nMAX_STEPS=300\nDEFAULT_STEPS=100\n`);
      const env: Record<string, string | undefined> = { MAX_STEPS: '400' };
      const c = loadConfig(env, { envFile: '.env', cwd: dir });
      expect(c.discordToken).toBe(TOKEN);
      expect(c.maxSteps).toBe(400);
      expect(c.defaultSteps).toBe(100);
      expect(loadDotenv(path.join(dir, 'missing.env'), {})).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses device lists and app ids from tokens', () => {
    expect(parseDevices('cuda')).toEqual([{ name: 'cuda:0', provider: 'cuda', deviceId: 0 }]);
    expect(parseDevices('cuda:0,cuda:1')!.map((d) => d.deviceId)).toEqual([0, 1]);
    expect(parseDevices('gpu')).toBeUndefined();
    expect(appIdFromToken(TOKEN)).toBe('123456789012345678');
    expect(appIdFromToken('not-a-token')).toBeUndefined();
  });
});

describe('configuration docs', () => {
  const example = fs.readFileSync(path.join(repoRoot, '.env.example'), 'utf8');
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

  it('.env.example documents every variable, with its default, and nothing else', () => {
    const named = new Set([...example.matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    expect([...named].sort()).toEqual([...VARIABLE_NAMES].sort());
    for (const name of VARIABLE_NAMES) {
      expect(example, name).toMatch(new RegExp(`^# ${name}: \\S`, 'm'));
      const d = (VARIABLES[name] as { default?: string }).default;
      if (d !== undefined) expect(example, name).toMatch(new RegExp(`^# ${name}=${d.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    }
  });

  it('.env.example as shipped loads once a token is added', () => {
    const env: Record<string, string> = {};
    for (const m of example.matchAll(/^([A-Z][A-Z0-9_]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
    expect(() => loadConfig({ ...env, DISCORD_TOKEN: TOKEN })).not.toThrow();
    // and every commented-out default is valid when uncommented
    for (const m of example.matchAll(/^# ([A-Z][A-Z0-9_]+)=(.+)$/gm)) env[m[1]!] = m[2]!;
    expect(() => loadConfig({ ...env, DISCORD_TOKEN: TOKEN })).not.toThrow();
  });

  it('README configuration table has a row for every variable', () => {
    const section = readme.slice(readme.indexOf('## Configuration'));
    for (const name of VARIABLE_NAMES) expect(section, name).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'));
  });
});
