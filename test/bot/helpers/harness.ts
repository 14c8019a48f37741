/**
 * Starts the real bot (startBot: real discord.js Client, real store and scheduler) against the fake
 * Discord, with PaintRunner devices. Commands are registered in the fake the way `npm run register` does.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { REST, Routes } from 'discord.js';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../../src/config.ts';
import { COMMANDS, commandDefinitions } from '../../../src/commands/index.ts';
import { startBot, type BotDeps, type BotHandle } from '../../../src/bot/start.ts';
import type { JobRunner } from '../../../src/jobs/types.ts';
import { FakeDiscord, type FakeMemberUser, type Json, type StoredMessage } from '../../fake-discord/index.ts';
import { PaintRunner } from './paint-runner.ts';

export interface HarnessOptions {
  devices?: string[];
  stepDelayMs?: number;
  env?: Record<string, string>;
  deps?: Partial<BotDeps>;
  runners?: JobRunner[];
  fake?: FakeDiscord;
  dataDir?: string;
}

export interface Harness {
  fake: FakeDiscord;
  bot: BotHandle;
  config: Config;
  runners: PaintRunner[];
  dataDir: string;
  logs: string[];
  /** stop the bot (graceful); keeps the fake and the data dir */
  stopBot(): Promise<void>;
  /**
   * Simulates the process dying (kill -9) while jobs are held by PaintRunner.holdAt: the gateway
   * connection drops, the store closes, nothing is checkpointed or marked, held runs never come back.
   */
  crash(): Promise<void>;
  /** stop everything and remove the data dir */
  close(): Promise<void>;
}

export function testConfig(fake: FakeDiscord, dataDir: string, env: Record<string, string> = {}): Config {
  return loadConfig(
    {
      DISCORD_TOKEN: fake.token,
      DISCORD_APP_ID: fake.appId,
      DISCORD_GUILD_ID: fake.guildId,
      DISCORD_API_URL: fake.apiBase,
      DEVICES: 'cpu',
      DATA_DIR: dataDir,
      DB_PATH: path.join(dataDir, 'reverie.db'),
      DEFAULT_STEPS: '20',
      MAX_STEPS: '200',
      DEFAULT_SIZE: '64',
      MAX_SIZE: '256',
      SAVE_EVERY: '5',
      MAX_QUEUED_PER_USER: '5',
      LOG_LEVEL: 'warn',
      ...env,
    },
    { envFile: false },
  );
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const fake = opts.fake ?? (await FakeDiscord.start());
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-bot-'));
  const config = testConfig(fake, dataDir, { DEVICES: (opts.devices ?? ['cpu']).join(','), ...opts.env });
  const runners = (opts.runners as PaintRunner[] | undefined) ?? config.devices.map((d) => new PaintRunner({ device: d.name, stepDelayMs: opts.stepDelayMs ?? 5 }));
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(s) });
  if (!fake.commands.guild.get(fake.guildId)?.length) {
    const rest = new REST({ api: config.discordApiUrl }).setToken(config.discordToken);
    await rest.put(Routes.applicationGuildCommands(fake.appId, fake.guildId), { body: commandDefinitions(config) });
  }
  const bot = await startBot(config, {
    commands: COMMANDS,
    runners,
    logger,
    handleSignals: false,
    ...opts.deps,
    attachments: { allowedHosts: [fake.cdnHost], ...opts.deps?.attachments },
    presenter: { minEditIntervalMs: 100, queuedEditIntervalMs: 100, ...opts.deps?.presenter },
  });
  let stopped = false;
  return {
    fake,
    bot,
    config,
    runners,
    dataDir,
    logs,
    async stopBot() {
      if (stopped) return;
      stopped = true;
      await bot.stop();
    },
    async crash() {
      if (stopped) return;
      stopped = true;
      bot.presenter.detach();
      await bot.client.destroy();
      bot.store.close();
    },
    async close() {
      if (!stopped) await bot.stop();
      stopped = true;
      if (!opts.fake) await fake.stop();
      if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ───────────────────────────── assertion helpers ─────────────────────────────

export const str = (name: string, value: string): Json => ({ name, type: 3, value });
export const int = (name: string, value: number): Json => ({ name, type: 4, value });
export const num = (name: string, value: number): Json => ({ name, type: 10, value });

/** The message the bot made for an interaction (its @original). */
export async function replyMessage(fake: FakeDiscord, interactionId: string, timeout = 15000): Promise<StoredMessage> {
  return fake.waitFor(
    () => {
      const st = fake.interactionState(interactionId);
      const m = st?.originalMessageId ? fake.messages.get(st.originalMessageId) : undefined;
      return m && m.content ? m : undefined;
    },
    { timeout, what: `the reply to interaction ${interactionId}` },
  );
}

export function buttonIds(m: StoredMessage): string[] {
  return m.components.flatMap((row) => (row.components as Json[]).map((c) => String(c.custom_id)));
}

export async function waitForContent(fake: FakeDiscord, messageId: string, re: RegExp, timeout = 20000): Promise<StoredMessage> {
  return fake.waitFor(
    () => {
      const m = fake.messages.get(messageId);
      return m && re.test(m.content) ? m : undefined;
    },
    { timeout, what: `message ${messageId} to match ${re}` },
  );
}

export function user(fake: FakeDiscord, name: string, opts: { mod?: boolean; admin?: boolean } = {}): FakeMemberUser {
  return [...fake.users.values()].find((u) => u.username === name) ?? fake.addUser(name, opts);
}

/** The job whose message this is (waits: the id is recorded just after the message is posted). */
export async function jobFor(h: Harness, messageId: string): Promise<import('../../../src/jobs/types.ts').JobRecord> {
  return h.fake.waitFor(() => (h.bot.store.isOpen ? h.bot.store.findByMessageId(messageId) : undefined), { what: `the job of message ${messageId}` });
}

/** Everything the bot said to Discord: interaction answers, webhook posts and edits, channel messages. */
export function everythingSent(fake: FakeDiscord): string[] {
  const out: string[] = [];
  for (const r of fake.find((x) => /^(POST|PATCH) /.test(x.route))) {
    const b = r.body as Json | undefined;
    const content = b?.data?.content ?? b?.content;
    if (typeof content === 'string') out.push(content);
  }
  return out;
}

/** What no user-facing text may contain: a server path, a stack frame, a library's raw error. */
export const UNSAFE_TEXT: readonly RegExp[] = [/\/(home|srv|tmp|var|usr|root|work|opt)\//, /[A-Za-z]:\\/, /\bat \S+ \(/, /\n\s+at /, /vips|libpng|ENOENT|SQLITE|\.ts:\d+/];

export function unsafeTexts(fake: FakeDiscord): string[] {
  return everythingSent(fake).filter((t) => UNSAFE_TEXT.some((re) => re.test(t)));
}

/**
 * Runs /imagine as alice and returns its ephemeral refusal: a private reply, or, deferred publicly
 * and then refused, a private follow-up with the placeholder deleted. Nothing may be queued.
 */
export async function imagineRefusal(h: Harness, options: Json[], attachments: Parameters<FakeDiscord['slashCommand']>[0]['attachments'] = []): Promise<string> {
  const { fake } = h;
  const before = h.bot.store.listJobs().length;
  const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'alice'), options, attachments });
  const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === i.id);
  let text: string;
  if (cb.body!.type === 4) {
    expect(cb.body!.data.flags & 64).toBe(64);
    text = String(cb.body!.data.content);
  } else {
    expect(cb.body!.type).toBe(5);
    const st = fake.interactionState(i.id)!;
    const follow = await fake.waitForRequest((r) => r.route === 'POST /webhooks/:app/:token' && r.params.token === st.token);
    expect(follow.body!.flags & 64).toBe(64);
    const del = fake.find((r) => r.route === 'DELETE /webhooks/:app/:token/messages/:message' && r.params.token === st.token);
    expect(del).toHaveLength(1);
    expect(fake.messages.get(st.originalMessageId!)!.deleted).toBe(true);
    text = String(follow.body!.content);
  }
  expect(h.bot.store.listJobs().length).toBe(before);
  return text;
}
