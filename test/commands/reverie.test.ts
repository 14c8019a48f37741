import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeMemberUser, type Json } from '../fake-discord/index.ts';
import { replyMessage, startHarness, str, int, user, waitForContent, type Harness } from '../bot/helpers/harness.ts';

const CALLBACK = 'POST /interactions/:interaction/:token/callback';

// /reverie pause|resume|limits|stats for members with Manage Server; settings survive a restart.
describe('/reverie admin commands', () => {
  let fake: FakeDiscord;
  let h: Harness;
  let dataDir: string;
  let admin: FakeMemberUser;
  let alice: FakeMemberUser;
  beforeAll(async () => {
    fake = await FakeDiscord.start();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-admin-'));
    h = await startHarness({ fake, dataDir });
    admin = user(fake, 'ada', { admin: true });
    alice = user(fake, 'alice');
  });
  afterAll(async () => {
    await h?.close();
    await fake?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function reverie(who: FakeMemberUser, sub: string, options: Json[] = []): Promise<string> {
    const i = fake.slashCommand({ name: 'reverie', user: who, options: [{ name: sub, type: 1, options }] });
    const r = await fake.waitForRequest((x) => x.route === CALLBACK && x.params.interaction === i.id);
    expect(r.body).toMatchObject({ type: 4, data: { flags: 64 } });
    return String(r.body!.data.content);
  }

  it('is registered for Manage Server only and refuses others', async () => {
    const def = fake.commands.guild.get(fake.guildId)!.find((c) => c.name === 'reverie')!;
    expect(def.default_member_permissions).toBe(String(1n << 5n));
    expect(await reverie(alice, 'stats')).toMatch(/Only members with the Manage Server permission/);
  });

  it('pause keeps new jobs waiting (and says why); resume lets them run', async () => {
    expect(await reverie(admin, 'pause')).toMatch(/⏸️ Paused all devices\. Running jobs finish; new jobs wait in the queue\.\n`cpu`: ⏸️ paused/);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'waits for resume'), int('steps', 5)] });
    const msg = await replyMessage(fake, i.id);
    await waitForContent(fake, msg.id, /Queued: next in line · the painter is paused by an admin/);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.runners[0]!.started).toHaveLength(0);
    expect(await reverie(admin, 'resume', [{ name: 'device', type: 3, value: 'cpu' }])).toMatch(/▶️ Resumed `cpu`/);
    await waitForContent(fake, msg.id, /Finished/);
  });

  it('limits: view, change, enforced by /imagine', async () => {
    expect(await reverie(admin, 'limits')).toMatch(/Current limits:\n• per member: 5 job\(s\)[^]*steps: at most 200\n• size: at most 256 px/);
    const changed = await reverie(admin, 'limits', [
      { name: 'per_user', type: 4, value: 2 },
      { name: 'max_steps', type: 4, value: 30 },
      { name: 'max_size', type: 4, value: 128 },
    ]);
    expect(changed).toMatch(/Limits updated \(kept across restarts\):\n• per member: 2 job\(s\)[^]*steps: at most 30\n• size: at most 128 px/);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'too long'), int('steps', 50), int('size', 200)] });
    const r = await fake.waitForRequest((x) => x.route === CALLBACK && x.params.interaction === i.id);
    expect(r.body!.data.flags).toBe(64);
    expect(r.body!.data.content).toMatch(/Steps must be between 1 and 30 /);
    expect(r.body!.data.content).toMatch(/size must be a whole number of pixels between 64 and 128 /);
    expect(await reverie(admin, 'limits', [{ name: 'max_size', type: 4, value: 20 }])).toMatch(/max_size must be between 64 and 8192/);
  });

  it('stats: jobs per day, median wait, time per step per device', async () => {
    const text = await reverie(admin, 'stats');
    expect(text).toMatch(/\*\*Last 7 days\*\*\n• \d{4}-\d\d-\d\d: 1 job\(s\) · 1 done · 0 failed · 0 cancelled/);
    expect(text).toMatch(/Median wait before painting starts: \d+/);
    expect(text).toMatch(/`cpu`: median \d+\.\d{3} s\/step \(\d+\.\d{3} s at 256², 32 cutouts\) over 1 job\(s\)/);
  });

  it('pause and limits survive a restart', async () => {
    await reverie(admin, 'pause', [{ name: 'device', type: 3, value: 'cpu' }]);
    await h.stopBot();
    h = await startHarness({ fake, dataDir });
    expect(await reverie(admin, 'limits')).toMatch(/per member: 2 job\(s\)[^]*steps: at most 30\n• size: at most 128 px/);
    expect(h.bot.scheduler.devicesStatus()[0]!.paused).toBe(true);
    expect(await reverie(admin, 'resume')).toMatch(/`cpu`: ▶️ taking jobs/);
  });
});
