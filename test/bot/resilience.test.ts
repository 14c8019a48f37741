import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../fake-discord/index.ts';
import { replyMessage, startHarness, str, int, user, waitForContent, type Harness } from './helpers/harness.ts';

const EDIT = 'PATCH /channels/:channel/messages/:message';

// Discord misbehaving (429, expired tokens, deleted messages, no thread permission) and bot restarts.
describe('resilience', () => {
  let fake: FakeDiscord;
  const harnesses: Harness[] = [];
  const dirs: string[] = [];
  beforeAll(async () => {
    fake = await FakeDiscord.start();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });
  afterAll(async () => {
    await fake?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const start = async (opts: Parameters<typeof startHarness>[0] = {}) => {
    const h = await startHarness({ fake, ...opts });
    harnesses.push(h);
    return h;
  };
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-restart-'));
    dirs.push(d);
    return d;
  };

  it('honours a 429 with retry_after: waits, retries, keeps one edit in flight, finishes', async () => {
    const h = await start();
    const alice = user(fake, 'alice');
    const hold = h.runners[0]!.holdAt(3);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'rate limited'), int('steps', 12)] });
    const msg = await replyMessage(fake, i.id);
    await hold.reached;
    await h.bot.presenter.flush();
    const before = fake.requests.length ? fake.requests[fake.requests.length - 1]!.seq : 0;
    fake.rateLimitNext({ method: 'PATCH', route: '/channels/:channel/messages/:message', retryAfter: 1, count: 1 });
    hold.release();
    await waitForContent(fake, msg.id, /Finished/);
    const edits = fake.find((r) => r.seq > before && r.route === EDIT && r.params.message === msg.id);
    const k = edits.findIndex((r) => r.status === 429);
    expect(k).toBeGreaterThanOrEqual(0);
    expect(edits[k]!.response).toMatchObject({ retry_after: 1, global: false });
    // the very next request on that message is the retry, ≥ retry_after later (no edit overtook it)
    expect(edits[k + 1]!.status).toBe(200);
    expect(edits[k + 1]!.body).toEqual(edits[k]!.body);
    expect(edits[k + 1]!.at - edits[k]!.at).toBeGreaterThanOrEqual(1000);
    expect(h.bot.ctx.metrics.rateLimited).toBeGreaterThanOrEqual(1);
    expect(h.bot.store.findByMessageId(msg.id)!.state).toBe('done');
  });

  it('an expired interaction token does not break progress: edits use the bot token', async () => {
    const h = await start();
    const alice = user(fake, 'alice');
    const hold = h.runners[0]!.holdAt(2);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'a long one'), int('steps', 15)] });
    const msg = await replyMessage(fake, i.id);
    await hold.reached;
    fake.expireInteraction(i.id);
    const after = fake.requests[fake.requests.length - 1]!.seq;
    hold.release();
    const done = await waitForContent(fake, msg.id, /Finished/);
    expect(done.attachments[0]!.filename).toMatch(/^reverie-\d+\.png$/);
    const later = fake.find((r) => r.seq > after);
    expect(later.filter((r) => r.path.startsWith('/webhooks/'))).toHaveLength(0);
    expect(later.filter((r) => r.route === EDIT && r.params.message === msg.id).every((r) => r.status === 200 && r.auth === 'bot')).toBe(true);
  });

  it('a deleted message does not fail the job: the result is posted anew', async () => {
    const h = await start();
    const alice = user(fake, 'alice');
    const hold = h.runners[0]!.holdAt(2);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'deleted midway'), int('steps', 10)] });
    const msg = await replyMessage(fake, i.id);
    await hold.reached;
    fake.deleteMessage(msg.id);
    hold.release();
    const job = await fake.waitFor(() => {
      const j = h.bot.store.listJobs({ limit: 1 })[0];
      return j?.state === 'done' && j.discord.messageId !== msg.id ? j : undefined;
    }, { what: 'the result in a new message' });
    const fresh = await waitForContent(fake, job.discord.messageId!, /Finished/);
    expect(fresh.attachments.map((a) => a.filename)).toContain(`reverie-${job.request.seed}.png`);
    expect(fake.find((r) => r.route === EDIT && r.params.message === msg.id && r.status === 404).length).toBeGreaterThanOrEqual(1);
  });

  it('without permission to create threads the job carries on and the timelapse rides on the final message', async () => {
    const h = await start();
    const alice = user(fake, 'alice');
    const noThreads = fake.addChannel('no-threads', { denyThreads: true });
    const i = fake.slashCommand({ name: 'imagine', user: alice, channelId: noThreads.id, options: [str('prompt', 'threadless'), int('steps', 10)] });
    const msg = await replyMessage(fake, i.id);
    const done = await waitForContent(fake, msg.id, /Finished/);
    const tried = fake.find((r) => r.route === 'POST /channels/:channel/messages/:message/threads' && r.params.message === msg.id);
    expect(tried.map((r) => r.status)).toEqual([403]);
    expect(done.attachments.map((a) => a.filename)).toEqual([expect.stringMatching(/^reverie-\d+\.png$/), 'timelapse.webp']);
    expect(h.logs.some((l) => l.includes('no thread for this job'))).toBe(true);
  });

  it('a graceful restart mid-job: the message says so, the job resumes from its checkpoint in the same message and thread', async () => {
    const dataDir = tmp();
    const h1 = await start({ dataDir });
    const alice = user(fake, 'alice');
    const hold = h1.runners[0]!.holdAt(7);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'survives restarts'), int('steps', 20)] });
    const msg = await replyMessage(fake, i.id);
    const jobId = await fake.waitFor(() => h1.bot.store.findByMessageId(msg.id)?.id);
    await hold.reached;
    await h1.stopBot();
    await waitForContent(fake, msg.id, /Paused at step 7\/20: the bot is restarting/);
    const threadId = fake.threadOf(msg.id)!.id;

    const h2 = await start({ dataDir });
    await waitForContent(fake, msg.id, /Finished/);
    expect(h2.runners[0]!.runs[0]).toMatchObject({ jobId, startStep: 7, outcome: 'done' });
    const edits = fake.find((r) => r.route === EDIT && r.params.message === msg.id);
    expect(edits.some((r) => /resumed from step 7 after a restart/.test(String(r.body?.content)))).toBe(true);
    expect(fake.find((r) => r.route === 'POST /channels/:channel/messages/:message/threads' && r.params.message === msg.id)).toHaveLength(1);
    await fake.waitFor(() => fake.channelMessages(threadId).some((m) => m.attachments.some((a) => a.filename === 'timelapse.webp')), { what: 'timelapse' });
    expect(fake.channelMessages(threadId).map((m) => m.content)).toContain('Step 10/20');
    expect(h2.bot.store.getJob(jobId)!.discord.messageId).toBe(msg.id);
  });

  it('a crash mid-job (no shutdown): the restarted bot re-attaches to the message and finishes from the last checkpoint', async () => {
    const dataDir = tmp();
    const h1 = await start({ dataDir });
    const alice = user(fake, 'alice');
    const hold = h1.runners[0]!.holdAt(8);
    const i = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'survives crashes'), int('steps', 20)] });
    const msg = await replyMessage(fake, i.id);
    await hold.reached;
    await h1.crash();
    const h2 = await start({ dataDir });
    const done = await waitForContent(fake, msg.id, /Finished/);
    // checkpoints come with snapshots every 5 steps: the last one before the crash was step 5
    expect(h2.runners[0]!.runs[0]).toMatchObject({ startStep: 5, outcome: 'done' });
    expect(done.content).toMatch(/survives crashes/);
    const job = h2.bot.store.findByMessageId(msg.id)!;
    expect(job).toMatchObject({ state: 'done', interruptions: 1 });
  });
});
