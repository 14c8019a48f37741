import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { fixture } from '../helpers/fixtures.ts';
import { buttonIds, jobFor, replyMessage, startHarness, str, int, user, waitForContent, type Harness } from './helpers/harness.ts';

// The whole /imagine flow: real discord.js Client ↔ fake Discord, real store and scheduler, and the real
// engine (a worker thread running VQGAN+CLIP) on the tiny parity models.
describe('/imagine end to end', () => {
  let h: Harness;
  beforeAll(async () => {
    const engine = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1 });
    await engine.whenReady();
    h = await startHarness({ runners: [engine], env: { DEFAULT_CUTN: '4' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('defers, queues, edits progress with snapshots, threads, finishes with buttons and a 🔁 reaction', async () => {
    const { fake } = h;
    const alice = user(fake, 'alice');
    const it0 = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', 'a lighthouse in a storm'), str('style', 'oil painting'), int('steps', 20), int('seed', 42)] });

    // deferred within 3 s (the fake refuses later callbacks), public
    const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === it0.id);
    expect(cb.status).toBe(204);
    expect(cb.body).toMatchObject({ type: 5 });
    expect(cb.body!.data.flags & 64).toBe(0);

    const msg = await replyMessage(fake, it0.id);
    const done = await waitForContent(fake, msg.id, /Finished/);

    // the first state went through the interaction webhook, everything after through the bot token
    const webhookEdits = fake.find((r) => r.route === 'PATCH /webhooks/:app/:token/messages/:message');
    expect(webhookEdits).toHaveLength(1);
    expect(webhookEdits[0]!.body!.content).toMatch(/Queued|%/);
    const edits = fake.find((r) => r.route === 'PATCH /channels/:channel/messages/:message' && r.params.message === msg.id);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    expect(edits.every((r) => r.auth === 'bot')).toBe(true);

    // progress edits carry a bar, step/steps, speed, ETA and the newest snapshot as an attachment
    const progress = edits.filter((r) => /step \d+\/20/.test(String(r.body?.content)));
    expect(progress.length).toBeGreaterThanOrEqual(1);
    // speed and ETA appear once a step has been measured
    const measured = progress.filter((r) => !/step 0\/20/.test(String(r.body?.content)));
    expect(measured.length).toBeGreaterThanOrEqual(1);
    expect(String(measured[0]!.body!.content)).toMatch(/`[█░]{20}` \d+% · step \d+\/20 · .*(it\/s|s\/it).*left/);
    const withImage = edits.filter((r) => r.files.some((f) => /^snapshot-\d+\.png$/.test(f.filename)));
    expect(withImage.length).toBeGreaterThanOrEqual(1);
    const snap = withImage[0]!.files[0]!;
    expect(snap.data.subarray(1, 4).toString()).toBe('PNG');
    expect(withImage[0]!.body!.attachments).toHaveLength(1);
    expect(withImage[0]!.body!.attachments[0]).toMatchObject({ id: '0' });

    // coalesced: edits at least ~minEditInterval apart (100 ms in tests), never two in flight
    for (let k = 1; k < edits.length; k++) {
      if (edits[k - 1]!.status === 429) continue;
      const gap = edits[k]!.at - edits[k - 1]!.at;
      const urgent = /Finished|Painting|step 0\//.test(String(edits[k]!.body?.content)) || k === 1;
      if (!urgent) expect(gap).toBeGreaterThanOrEqual(90);
    }

    // a thread on the message, with snapshots posted into it, then the timelapse
    const thread = fake.threadOf(msg.id);
    expect(thread?.name).toMatch(/^🎨 a lighthouse in a storm, oil painting/);
    await fake.waitFor(() => fake.channelMessages(thread!.id).some((m) => m.attachments.some((a) => a.filename.startsWith('timelapse'))), { what: 'timelapse in thread' });
    const threadMsgs = fake.channelMessages(thread!.id);
    expect(threadMsgs.filter((m) => /^Step \d+\/20$/.test(m.content)).length).toBeGreaterThanOrEqual(2);
    const tl = threadMsgs.find((m) => m.attachments.some((a) => a.filename === 'timelapse.webp'))!;
    const tlData = fake.attachmentData(tl.attachments[0]!)!;
    const tlMeta = await sharp(tlData, { animated: true }).metadata();
    expect(tlMeta.format).toBe('webp');
    expect(tlMeta.pages).toBeGreaterThanOrEqual(3);

    // the final message: image, prompt, seed, time; buttons; 🔁 reaction by the bot
    expect(done.content).toMatch(/\*\*a lighthouse in a storm, oil painting\*\*/);
    expect(done.content).toMatch(/seed `42`/);
    expect(done.content).toMatch(/Finished in \d+/);
    expect(done.attachments.map((a) => a.filename)).toEqual(['reverie-42.png']);
    const finalPng = fake.attachmentData(done.attachments[0]!)!;
    expect((await sharp(finalPng).metadata()).format).toBe('png');
    const jobId = (await jobFor(h, msg.id)).id;
    expect(buttonIds(done)).toEqual([`reverie:reroll:${jobId}`, `reverie:vary:${jobId}`, `reverie:delete:${jobId}`]);
    await fake.waitFor<boolean>(() => fake.messages.get(msg.id)!.reactions.get('🔁')?.has(fake.appId), { what: 'bot 🔁 reaction' });
    const react = fake.find((r) => r.route === 'PUT /channels/:channel/messages/:message/reactions/:emoji/@me')[0]!;
    expect(react.params).toMatchObject({ message: msg.id, emoji: '🔁' });

    // the job record knows its message and thread
    const job = h.bot.store.getJob(jobId)!;
    expect(job.state).toBe('done');
    expect(job.discord).toMatchObject({ messageId: msg.id, threadId: thread!.id, channelId: fake.channelId });
    expect(job.request).toMatchObject({ prompt: 'a lighthouse in a storm, oil painting', steps: 20, seed: 42, width: 64, height: 64 });
  });

  it('a 🔁 reaction by a member re-rolls under their name; Re-roll and Variation buttons start new jobs', async () => {
    const { fake } = h;
    const alice = user(fake, 'alice');
    const bob = user(fake, 'bob');
    const parent = h.bot.store.listJobs({ states: ['done'] })[0]!;
    const parentMsg = parent.discord.messageId!;

    fake.react({ messageId: parentMsg, user: bob, emoji: '🔁' });
    const rerollMsg = await fake.waitFor(
      () => fake.channelMessages(fake.channelId).find((m) => m.id !== parentMsg && /Re-roll/.test(m.content) && m.content.includes(`<@${bob.id}>`)),
      { what: 'the re-roll message' },
    );
    const post = fake.find((r) => r.route === 'POST /channels/:channel/messages' && (r.response as { id?: string } | null)?.id === rerollMsg.id)[0]!;
    expect(post.body!.message_reference).toMatchObject({ message_id: parentMsg });
    await waitForContent(fake, rerollMsg.id, /Finished/);
    const child = (await jobFor(h, rerollMsg.id));
    expect(child).toMatchObject({ userId: bob.id, userName: 'Bob', parentId: parent.id });
    expect(child.request.seed).not.toBe(parent.request.seed);
    expect(child.request.prompt).toBe(parent.request.prompt);

    // Re-roll button (by alice) → a new public reply to the button press
    const press = fake.clickButton({ messageId: parentMsg, customId: `reverie:reroll:${parent.id}`, user: alice });
    const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === press.id);
    expect(cb.body).toMatchObject({ type: 4 });
    expect((cb.body!.data.flags ?? 0) & 64).toBe(0);
    const m2 = await replyMessage(fake, press.id);
    await waitForContent(fake, m2.id, /Finished/);
    expect(await jobFor(h, m2.id)).toMatchObject({ userId: alice.id, parentId: parent.id });

    // Variation: starts from the parent's final z with a new seed and half the steps
    const vary = fake.clickButton({ messageId: parentMsg, customId: `reverie:vary:${parent.id}`, user: alice });
    const m3 = await replyMessage(fake, vary.id);
    await waitForContent(fake, m3.id, /Finished/);
    const v = (await jobFor(h, m3.id));
    expect(v.request.initZ).toBe(parent.finalZPath);
    expect(v.request.steps).toBe(10);
    expect(v.request.seed).not.toBe(parent.request.seed);
    expect(fake.messages.get(m3.id)!.content).toMatch(/Variation/);
  });
});
