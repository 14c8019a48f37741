import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { JobStore } from '../../src/jobs/store.ts';
import { FakeDiscord } from '../fake-discord/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { replyMessage, startHarness, str, int, user, waitForContent, type Harness } from './helpers/harness.ts';

const engine = () => new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1 });

// A restart mid-job with the real engine (tiny models): the job checkpoints on the way down and the next
// bot resumes it from that step in the same message.
describe('restart mid-job on the real engine', () => {
  let fake: FakeDiscord | undefined;
  const harnesses: Harness[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-engine-restart-'));
  afterAll(async () => {
    for (const h of harnesses) await h.close();
    await fake?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('stops gracefully with a checkpoint, resumes from it after the restart and finishes in the same message', async () => {
    fake = await FakeDiscord.start();
    const first = engine();
    await first.whenReady();
    const h1 = await startHarness({ fake, dataDir, runners: [first], env: { DEFAULT_CUTN: '4' } });
    harnesses.push(h1);
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'alice'), options: [str('prompt', 'a lighthouse that survives restarts'), int('steps', 40)] });
    const msg = await replyMessage(fake, i.id);
    const jobId = await fake.waitFor(() => h1.bot.store.findByMessageId(msg.id)?.id, { what: 'the job' });
    await fake.waitFor(() => (h1.bot.store.getJob(jobId)!.step >= 7 ? true : undefined), { what: 'a few steps done', timeout: 60_000 });

    await h1.stopBot();
    const reader = new JobStore({ dataDir });
    const paused = reader.getJob(jobId)!;
    reader.close();
    expect(paused.state).toBe('queued');
    expect(paused.checkpointStep).toBeGreaterThanOrEqual(7);
    await waitForContent(fake, msg.id, /Paused at step \d+\/40: the bot is restarting/);

    const second = engine();
    await second.whenReady();
    const h2 = await startHarness({ fake, dataDir, runners: [second], env: { DEFAULT_CUTN: '4' } });
    harnesses.push(h2);
    const done = await waitForContent(fake, msg.id, /Finished/, 90_000);
    expect(done.attachments.map((a) => a.filename)).toEqual([expect.stringMatching(/^reverie-\d+\.png$/)]);
    const png = fake.attachmentData(done.attachments[0]!)!;
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 64, height: 64 });
    const job = h2.bot.store.getJob(jobId)!;
    expect(job).toMatchObject({ state: 'done', interruptions: 0, discord: { messageId: msg.id } });
    const edits = fake.find((r) => r.route === 'PATCH /channels/:channel/messages/:message' && r.params.message === msg.id);
    expect(edits.some((r) => new RegExp(`resumed from step ${paused.checkpointStep}`).test(String(r.body?.content)))).toBe(true);
  });
});
