import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCommands } from '../../src/cli/register.ts';
import { testConfig } from '../bot/helpers/harness.ts';
import { FakeDiscord } from '../fake-discord/index.ts';
import { repoRoot } from '../helpers/fixtures.ts';

const run = promisify(execFile);

// `npm run register` against the fake Discord's REST API (as a child process, and in-process).
describe('register CLI', () => {
  let fake: FakeDiscord;
  beforeAll(async () => {
    fake = await FakeDiscord.start();
  });
  afterAll(async () => {
    await fake?.stop();
  });
  const cli = (args: string[], env: Record<string, string>) =>
    run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/register.ts'), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DISCORD_TOKEN: fake.token, DISCORD_APP_ID: fake.appId, DISCORD_API_URL: fake.apiBase, ...env },
    });

  it('registers to the guild in DISCORD_GUILD_ID through DISCORD_API_URL', async () => {
    const g = await cli([], { DISCORD_GUILD_ID: fake.guildId });
    expect(g.stdout).toBe(`Registered /imagine, /queue, /reverie, Apps → Paint this in server ${fake.guildId} (available now).\n`);
    const put = fake.byRoute('PUT /applications/:app/guilds/:guild/commands')[0]!;
    expect(put.auth).toBe('bot');
    expect((put.body as unknown as { name: string }[]).map((c) => c.name)).toEqual(['imagine', 'queue', 'reverie', 'Paint this']);
    const imagine = fake.commands.guild.get(fake.guildId)!.find((c) => c.name === 'imagine')!;
    expect(imagine.options.map((o: { name: string }) => o.name)).toEqual([
      'prompt', 'voice', 'style', 'aspect', 'size', 'model', 'steps', 'seed', 'image_prompt', 'init_image', 'cutouts', 'learning_rate', 'optimiser', 'max_classes',
    ]);
    await expect(cli(['--guild', '42'], {})).rejects.toMatchObject({ code: 2, stderr: 'register: --guild expects a server id (17–20 digits), got "42"\n' });
  });

  it('registers globally, and explains a refusal', async () => {
    const config = testConfig(fake, '/tmp/unused', {});
    expect(await registerCommands(config, { global: true })).toEqual({ scope: 'global', names: ['imagine', 'queue', 'reverie', 'Paint this'], menus: ['Paint this'] });
    expect(fake.byRoute('PUT /applications/:app/commands')).toHaveLength(1);
    await expect(registerCommands(config, { guildId: '12345678901234567' })).rejects.toThrow(
      /^Discord refused the commands: Unknown Guild \(check DISCORD_APP_ID and DISCORD_GUILD_ID\)$/,
    );
  });
});

// The bot registers at start when the definitions changed since the last registration its store remembers.
describe('registration at start', () => {
  it('registers on the first start, not again with the same definitions, and again when they change', async () => {
    const { startHarness } = await import('../bot/helpers/harness.ts');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const fake = await FakeDiscord.start();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-register-'));
    const puts = () => fake.byRoute('PUT /applications/:app/guilds/:guild/commands').length;
    try {
      const first = await startHarness({ fake, dataDir });
      const afterFirst = puts();
      await first.stopBot();
      expect(afterFirst).toBeGreaterThanOrEqual(1);
      const second = await startHarness({ fake, dataDir });
      await second.stopBot();
      expect(puts()).toBe(afterFirst);
      // an upgrade that changes a definition (here: /queue's description)
      const { COMMANDS } = await import('../../src/commands/index.ts');
      const changed = COMMANDS.map((c) => (c.name !== 'queue' ? c : { ...c, definition: (cfg: never) => ({ ...c.definition(cfg), description: 'Your jobs, changed' }) })) as typeof COMMANDS;
      const third = await startHarness({ fake, dataDir, deps: { commands: changed } });
      await third.stopBot();
      expect(puts()).toBe(afterFirst + 1);
      expect(fake.commands.guild.get(fake.guildId)!.find((c) => c.name === 'queue')!.description).toBe('Your jobs, changed');
      const off = await startHarness({ fake, dataDir, env: { REGISTER_COMMANDS: 'off' } });
      await off.stopBot();
      expect(puts()).toBe(afterFirst + 1);
    } finally {
      await fake.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
