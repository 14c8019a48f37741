import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { configErrorMessage } from '../src/main.ts';
import { runScript } from './model-files/helpers.ts';

const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GxYzAb.abcdefghijklmnopqrstuvwxyz0123456789';

const noStack = (s: string) => expect(s).not.toMatch(/^\s+at |Error: |node:internal/m);

describe('npm start (src/main.ts)', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-main-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('with an empty .env: exits 1 naming DISCORD_TOKEN, no stack trace', async () => {
    fs.writeFileSync(path.join(cwd, '.env'), '');
    const r = await runScript('src/main.ts', cwd);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      'Configuration error: DISCORD_TOKEN: missing; expected the bot token from the Discord Developer Portal (Bot → Reset Token) (set it in .env: `cp .env.example .env`, see README "Discord application setup")',
    ]);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('a malformed value: one line naming the variable, the token never echoed', () => {
    let err: unknown;
    try {
      loadConfig({ DISCORD_TOKEN: TOKEN, DEVICES: 'gpu0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const line = configErrorMessage(err as ConfigError);
    expect(line).toBe('Configuration error: DEVICES: expected "cpu" or a comma list like "cuda:0,cuda:1" (each device once), got "gpu0" (see .env.example)');
    expect(line).not.toContain(TOKEN);
  });

  it('with a token but no weights: names each missing file, MODELS_DIR and `npm run models:pull`', async () => {
    fs.writeFileSync(path.join(cwd, '.env'), `DISCORD_TOKEN=${TOKEN}\n`);
    const r = await runScript('src/main.ts', cwd);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Model weights missing in MODELS_DIR=./models:');
    expect(r.stderr).toContain(`missing CLIP weights: ${path.join(cwd, 'models/clip-vit-b-32/open_clip_model.safetensors')}`);
    expect(r.stderr).toContain(`missing VQGAN checkpoint: ${path.join(cwd, 'models/vqgan-imagenet-f16-16384/last.ckpt')}`);
    expect(r.stderr).toContain('Run `npm run models:pull`');
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    noStack(r.stderr);
  });
});
