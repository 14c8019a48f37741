/**
 * Issue 15 with real processes started the documented way (`node bin/reverie`, what `npm start` runs and
 * what the README's systemd unit and container run):
 * - a 0-byte, a half-truncated and a garbage store each stop the start with one line on stderr naming
 *   DB_PATH and what to do, exit code 3, no stack trace; `node bin/reverie restore` (npm run restore)
 *   then brings the jobs back;
 * - a second bot on the same store exits (code 4) with "another Reverie (pid N on HOST) is using this
 *   store" while the first keeps working;
 * - SIGTERM to the first stops it within the graceful timeout (the running job checkpoints, its message
 *   says it will carry on), exit 0, and no process is left behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandDefinitions } from '../../src/commands/index.ts';
import { backupNow } from '../../src/jobs/backups.ts';
import { openStore } from '../../src/jobs/store.ts';
import { DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER } from '../../src/model-files/layout.ts';
import { FakeDiscord } from '../fake-discord/index.ts';
import { fixture, repoRoot } from '../helpers/fixtures.ts';
import { replyMessage, str, int, testConfig, user, waitForContent } from '../bot/helpers/harness.ts';
import { freePort, get } from './helpers.ts';

const BIN = path.join(repoRoot, 'bin/reverie');
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB';
/** what the bot needs to stop: shutdown (≤ 30 s for runs to checkpoint) + edits (≤ 10 s) + logout */
const GRACEFUL_MS = 45_000;

function modelsIn(dir: string): string {
  const models = path.join(dir, 'models');
  fs.mkdirSync(models, { recursive: true });
  fs.symlinkSync(fixture('clip-openai'), path.join(models, DEFAULT_CLIP_FOLDER));
  fs.symlinkSync(fixture('vqgan'), path.join(models, DEFAULT_VQGAN_FOLDER));
  return models;
}

function baseEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    DISCORD_TOKEN: TOKEN,
    DISCORD_API_URL: 'http://127.0.0.1:9/api', // never reached: the store is checked first
    DEVICES: 'cpu',
    THREADS_PER_DEVICE: '1',
    DATA_DIR: path.join(dir, 'data'),
    DB_PATH: path.join(dir, 'data', 'reverie.db'),
    MODELS_DIR: path.join(dir, 'models'),
    LOG_LEVEL: 'info',
    ...extra,
  };
}

const STACK = /\n\s+at |\bat .+:\d+:\d+\)/;

describe('a damaged store stops the start with one line; restore brings the jobs back', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-damaged-'));
    modelsIn(dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function makeStore(n: number): Promise<string> {
    const data = path.join(dir, 'data');
    fs.rmSync(data, { recursive: true, force: true });
    const s = openStore({ dataDir: data, durable: false });
    for (let i = 0; i < n; i++) {
      s.insertJob({ userId: 'u', guildId: 'g', discord: { guildId: 'g', channelId: 'c' }, request: { prompt: `job ${i} ${'y'.repeat(300)}`, width: 64, height: 64, steps: 10, seed: i } as never });
    }
    const first = s.listJobs({ limit: 1 })[0]!;
    s.completeJob(first.id, { png: Buffer.from('png'), metadata: {} });
    await backupNow(s, data, 7);
    s.close();
    return s.dbFile;
  }

  const damage: Record<string, (file: string) => void> = {
    '0-byte': (f) => fs.truncateSync(f, 0),
    'half-truncated': (f) => fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2)),
    garbage: (f) => fs.writeFileSync(f, Buffer.alloc(fs.statSync(f).size, 'not sqlite ')),
  };

  for (const [kind, hurt] of Object.entries(damage)) {
    it(`${kind} store: exit 3, one line naming DB_PATH and what to do, no stack trace; restore brings the jobs back`, async () => {
      const db = await makeStore(200);
      for (const s of ['-wal', '-shm']) fs.rmSync(db + s, { force: true });
      hurt(db);
      const r = spawnSync(process.execPath, [BIN], { cwd: dir, env: baseEnv(dir), encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr + r.stdout).toBe(3);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^The job store DB_PATH=\.\/data\/reverie\.db (is damaged|is empty \(0 bytes\))/);
      expect(lines[0]).toMatch(/restore the newest backup \(reverie-\d{8}-\d{6}\.db\) with `npm run restore`, or move the file aside \(mv \.\/data\/reverie\.db \.\/data\/reverie\.db\.bad\) to start with an empty store\.$/);
      expect(r.stderr + r.stdout).not.toMatch(STACK);
      // refused again on the next start, not re-created
      const again = spawnSync(process.execPath, [BIN], { cwd: dir, env: baseEnv(dir), encoding: 'utf8', timeout: 60_000 });
      expect(again.status).toBe(3);

      const restore = spawnSync(process.execPath, [BIN, 'restore'], { cwd: dir, env: baseEnv(dir), encoding: 'utf8', timeout: 60_000 });
      expect(restore.status, restore.stderr).toBe(0);
      expect(restore.stdout).toMatch(/^Restored DB_PATH=\.\/data\/reverie\.db from reverie-\d{8}-\d{6}\.db \(200 jobs\); the file that was there is kept as \.\/data\/reverie\.db\.before-restore-/);
      const back = openStore({ dataDir: path.join(dir, 'data') });
      expect(back.listJobs({ limit: 1000 })).toHaveLength(200);
      back.close();
    });
  }
});

describe('one bot per store, and SIGTERM to `node bin/reverie`', () => {
  let fake: FakeDiscord;
  let dir: string;
  let first: ChildProcess;
  let firstErr = '';
  let exited: Promise<number | null>;
  let base: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-lease-'));
    modelsIn(dir);
    const rest = new REST({ api: fake.apiBase }).setToken(fake.token);
    await rest.put(Routes.applicationGuildCommands(fake.appId, fake.guildId), { body: commandDefinitions(testConfig(fake, dir)) });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = baseEnv(dir, { DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiBase, DEFAULT_CUTN: '4', SAVE_EVERY: '4' });
    first = spawn(process.execPath, [BIN], { cwd: dir, env: { ...env, HTTP_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    first.stderr!.on('data', (d: Buffer) => (firstErr += d.toString('utf8')));
    exited = new Promise((r) => first.once('exit', (code) => r(code)));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (first.exitCode !== null) throw new Error(`the bot exited (${first.exitCode}): ${firstErr}`);
      const r = await get(`${base}/healthz`, 2000).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`/healthz not 200 within 90 s: ${r?.body ?? 'no answer'}\n${firstErr}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  });

  afterAll(async () => {
    if (first && first.exitCode === null) {
      first.kill('SIGKILL');
      await exited;
    }
    await fake?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('`npm start` and `npm run restore` run bin/reverie', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe('node bin/reverie');
    expect(pkg.scripts.restore).toBe('node bin/reverie restore');
  });

  it('a second bot on the same store exits with the lease message (code 4); the first keeps working', async () => {
    const second = spawnSync(process.execPath, [BIN], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(second.status, second.stderr).toBe(4);
    const lines = second.stderr.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `Not starting: another Reverie (pid ${first.pid} on ${os.hostname()}) is using this store (DB_PATH=./data/reverie.db); stop it first, or wait for its lease to go stale.`,
    );
    expect(second.stderr + second.stdout).not.toMatch(STACK);
    // restore refuses too while the bot holds the lease
    const restore = spawnSync(process.execPath, [BIN, 'restore'], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(restore.status).toBe(4);
    expect(restore.stderr).toMatch(/^Not restoring: another Reverie \(pid \d+ on .+\) is using DB_PATH=\.\/data\/reverie\.db; stop it first\.\n$/);

    // the first one still paints
    expect((await get(`${base}/healthz`)).status).toBe(200);
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'alice'), options: [str('prompt', 'still here'), int('steps', 8), int('size', 64)] });
    const msg = await replyMessage(fake, i.id, 30_000);
    await waitForContent(fake, msg.id, /Finished/, 90_000);
  });

  it('SIGTERM stops it within the graceful timeout: the running job will carry on, exit 0, nothing left behind', async () => {
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'bob'), options: [str('prompt', 'a long one'), int('steps', 400), int('size', 64)] });
    const msg = await replyMessage(fake, i.id, 30_000);
    await waitForContent(fake, msg.id, /step [1-9]\d*\/400/, 90_000);
    // its helpers (tsx's esbuild service) end with it
    const children = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(first.pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.trim())
      .map((l) => ({ pid: Number(l.trim().split(/\s+/)[0]), args: l.trim() }));
    const t0 = Date.now();
    first.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), GRACEFUL_MS))]);
    expect(code, firstErr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(GRACEFUL_MS);
    expect(() => process.kill(first.pid!, 0)).toThrow(); // gone
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let k = 0; k < 30 && children.some((c) => alive(c.pid)); k++) await new Promise((r) => setTimeout(r, 100));
    expect(children.filter((c) => alive(c.pid)).map((c) => c.args)).toEqual([]);
    expect(fake.messages.get(msg.id)!.content).toMatch(/will carry on from here/);
    expect(firstErr).not.toMatch(STACK);
    // the store was left without a lease, and the job waits for the next start
    const s = openStore({ dataDir: path.join(dir, 'data') });
    expect(s.readLease()).toBeUndefined();
    expect(s.findByMessageId(msg.id)!.state).toBe('queued');
    s.close();
  });
});
