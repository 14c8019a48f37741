/**
 * `npm start` for real: src/main.ts in a child process, DISCORD_API_URL pointing at the fake Discord
 * (REST and, through GET /gateway/bot on that base, the gateway), the real engine on the tiny parity
 * models (symlinked into the MODELS_DIR layout), HTTP_PORT on. It logs in, serves /imagine (deferred
 * reply, progress edits, the final picture), answers /healthz and /metrics, and stops on SIGTERM.
 * Everything it printed is then searched for the token and for attachment URLs with query strings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/commands/index.ts';
import { DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER } from '../../src/model-files/layout.ts';
import { FakeDiscord } from '../fake-discord/index.ts';
import { fixture, repoRoot } from '../helpers/fixtures.ts';
import { replyMessage, str, int, testConfig, user, waitForContent } from '../bot/helpers/harness.ts';
import { freePort, get, parsePrometheus, value } from './helpers.ts';

const TSX = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
const EDIT = 'PATCH /channels/:channel/messages/:message';
const STEPS = 12;

describe('the bot as a child process against the fake Discord (DISCORD_API_URL)', () => {
  let fake: FakeDiscord;
  let dir: string;
  let child: ChildProcess;
  let out = '';
  let err = '';
  let exited: Promise<number | null>;
  let base: string;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-child-'));
    const models = path.join(dir, 'models');
    fs.mkdirSync(models);
    fs.symlinkSync(fixture('clip-openai'), path.join(models, DEFAULT_CLIP_FOLDER));
    fs.symlinkSync(fixture('vqgan'), path.join(models, DEFAULT_VQGAN_FOLDER));
    // the commands, registered the way `npm run register` does
    const rest = new REST({ api: fake.apiBase }).setToken(fake.token);
    await rest.put(Routes.applicationGuildCommands(fake.appId, fake.guildId), { body: commandDefinitions(testConfig(fake, dir)) });

    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', TSX, path.join(repoRoot, 'src/main.ts')], {
      cwd: dir, // no .env there
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        DISCORD_TOKEN: fake.token,
        DISCORD_APP_ID: fake.appId,
        DISCORD_API_URL: fake.apiBase,
        DEVICES: 'cpu',
        THREADS_PER_DEVICE: '1',
        HTTP_PORT: String(port),
        DATA_DIR: path.join(dir, 'data'),
        DB_PATH: path.join(dir, 'data', 'reverie.db'),
        MODELS_DIR: models,
        DEFAULT_CUTN: '4',
        SAVE_EVERY: '4',
        LOG_LEVEL: 'trace',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString('utf8')));
    exited = new Promise((r) => child.once('exit', (code) => r(code)));

    // up = logged in to the fake, store writable, worker loaded: /healthz says 200
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the bot exited (${child.exitCode}): ${err || out}`);
      const r = await get(`${base}/healthz`, 2000).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`/healthz not 200 within 90 s: ${r?.body ?? 'no answer'}\n${err}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await fake?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('logs in through DISCORD_API_URL: the gateway URL comes from GET /gateway/bot on that base', () => {
    expect(fake.byRoute('GET /gateway/bot').length).toBeGreaterThanOrEqual(1);
    expect(fake.identifies).toHaveLength(1);
  });

  it('serves /imagine with the real engine: deferred reply, progress edits, the final picture', async () => {
    const alice = user(fake, 'alice');
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'a lighthouse at dusk'), int('steps', STEPS), int('size', 64)] });
    const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === i.id);
    expect(cb.status).toBe(204);
    expect(cb.body).toMatchObject({ type: 5 }); // deferred
    const msg = await replyMessage(fake, i.id);
    // Edits of one message are at least 3 s apart (the default) and this job may paint faster than that:
    // as soon as the first step is done (/metrics counts it), freeze the process for a moment (as a slow
    // machine would) so that the next edit is due mid-job.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const m = parsePrometheus((await get(`${base}/metrics`)).body);
      if (value(m, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })! >= 1) break;
      if (Date.now() > deadline) throw new Error('no step done within 60 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 3200));
    child.kill('SIGCONT');
    await waitForContent(fake, msg.id, /Finished/, 90_000);

    const edits = fake.find((r) => r.route === EDIT && r.params.message === msg.id && r.status === 200);
    const stepOf = (r: (typeof edits)[number]) => Number(new RegExp(`step (\\d+)/${STEPS}`).exec(String(r.body?.content))?.[1] ?? NaN);
    const progress = edits.filter((r) => stepOf(r) > 0 && stepOf(r) < STEPS);
    expect(progress.length, JSON.stringify(edits.map((r) => [r.at, r.body?.content]))).toBeGreaterThanOrEqual(1);
    const final = edits.at(-1)!;
    expect(String(final.body!.content)).toMatch(/Finished/);
    const png = final.files.find((f) => f.filename.endsWith('.png'));
    expect(png, final.files.map((f) => f.filename).join()).toBeDefined();
    expect(png!.data.subarray(1, 4).toString()).toBe('PNG');
    expect(sharpSize(png!.data)).toEqual({ width: 64, height: 64 });
  });

  it('/healthz is 200 and /metrics parses and counts the job', async () => {
    const h = await get(`${base}/healthz`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ ok: true, devices: { cpu: { ok: true, state: 'ready' } } });
    const m = parsePrometheus((await get(`${base}/metrics`)).body);
    expect(value(m, 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(1);
    expect(value(m, 'reverie_jobs_finished_total', 'reverie_jobs_finished_total', { state: 'done' })).toBe(1);
    expect(value(m, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })).toBe(STEPS);
    expect(value(m, 'reverie_discord_edits_total', 'reverie_discord_edits_total')).toBeGreaterThanOrEqual(2);
    expect(value(m, 'reverie_worker_restarts_total', 'reverie_worker_restarts_total', { device: 'cpu' })).toBe(0);
  });

  it('an attachment URL with a signed query string is refused without ever reaching the logs', async () => {
    const att = fake.addCdnFile(Buffer.from('not really a png'), { filename: 'look.png', contentType: 'image/png' });
    expect(att.url).toMatch(/\?ex=.*hm=/);
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'bob'), options: [str('prompt', 'like this'), { name: 'image_prompt', type: 11, value: att.id }], attachments: [att] });
    const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === i.id);
    expect(String(cb.body?.data?.content)).toMatch(/must be an image uploaded to Discord/);
  });

  it('stops on SIGTERM (exit 0); no line it printed has the token or an attachment query string; job lines carry job ids', async () => {
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const all = out + err;
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(fake.token);
    for (const part of fake.token.split('.').filter((p) => p.length >= 8)) expect(all).not.toContain(part);
    expect(all).not.toMatch(/hm=deadbeef|[?&]ex=[0-9a-f]+/);
    // every stdout line is a JSON log record
    const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(err).toBe('');
    const job = lines.find((l) => l.msg === 'job queued')?.job as string;
    expect(job).toMatch(/\S/);
    const story = lines.filter((l) => l.job === job).map((l) => l.msg);
    expect(story).toEqual(expect.arrayContaining(['job queued', 'job started', 'job done']));
    expect(lines.some((l) => l.msg === 'serving /healthz and /metrics')).toBe(true);
  });
});

function sharpSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
