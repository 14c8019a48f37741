import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobFor, replyMessage, startHarness, str, int, user, waitForContent, type Harness } from './helpers/harness.ts';
import type { FakeDiscord, FakeMemberUser } from '../fake-discord/index.ts';

async function imagine(fake: FakeDiscord, who: FakeMemberUser, prompt: string, steps = 10) {
  const i = fake.slashCommand({ name: 'imagine', user: who, options: [str('prompt', prompt), int('steps', steps)] });
  const m = await replyMessage(fake, i.id);
  return { interaction: i, messageId: m.id };
}

async function ephemeralReply(fake: FakeDiscord, interactionId: string): Promise<string> {
  const r = await fake.waitForRequest((x) => x.route === 'POST /interactions/:interaction/:token/callback' && x.params.interaction === interactionId);
  expect(r.body).toMatchObject({ type: 4 });
  expect(r.body!.data.flags & 64).toBe(64);
  return String(r.body!.data.content);
}

// Fair order, /queue, Cancel and Delete buttons with their permission rules.
describe('queue, fairness and cancel', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ stepDelayMs: 5 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("two users' jobs interleave fairly, positions show in the messages, /queue lists it all", async () => {
    const { fake } = h;
    const alice = user(fake, 'alice');
    const bob = user(fake, 'bob');
    const runner = h.runners[0]!;
    const hold = runner.holdAt(1);
    const a1 = await imagine(fake, alice, 'alice one');
    await hold.reached;
    const a2 = await imagine(fake, alice, 'alice two');
    const a3 = await imagine(fake, alice, 'alice three');
    const b1 = await imagine(fake, bob, 'bob one');

    // bob's only job goes ahead of alice's second and third
    await waitForContent(fake, b1.messageId, /Queued: next in line/);
    await waitForContent(fake, a2.messageId, /Queued: #2 in line/);
    await waitForContent(fake, a3.messageId, /Queued: #3 in line/);

    const q = fake.slashCommand({ name: 'queue', user: bob });
    const text = await ephemeralReply(fake, q.id);
    expect(text).toMatch(new RegExp(`\`cpu\`: <@${alice.id}> “alice one” · step \\d+/10`));
    expect(text).toMatch(new RegExp(`1\\. <@${bob.id}> “bob one”`));
    expect(text).toMatch(new RegExp(`2\\. <@${alice.id}> “alice two”`));
    expect(text).toMatch(/\*\*Your jobs\*\*\n• `[0-9a-f]+` #1 in line/);

    hold.release();
    for (const m of [a1, a2, a3, b1]) await waitForContent(fake, m.messageId, /Finished/);
    const order = runner.started.map((id) => h.bot.store.getJob(id)!.request.prompt);
    expect(order).toEqual(['alice one', 'bob one', 'alice two', 'alice three']);
  });

  it('Cancel: refused for others (ephemeral), allowed for the requester and for moderators', async () => {
    const { fake } = h;
    const alice = user(fake, 'alice');
    const carol = user(fake, 'carol');
    const mod = user(fake, 'mia', { mod: true });
    const runner = h.runners[0]!;
    const hold = runner.holdAt(2);
    const running = await imagine(fake, alice, 'to cancel while running', 30);
    await hold.reached;
    const queued = await imagine(fake, alice, 'to cancel while queued', 30);
    await waitForContent(fake, queued.messageId, /Queued/);
    const runningJob = (await jobFor(h, running.messageId));
    const queuedJob = (await jobFor(h, queued.messageId));

    // carol may not cancel alice's job
    const no = fake.clickButton({ messageId: queued.messageId, customId: `reverie:cancel:${queuedJob.id}`, user: carol });
    expect(await ephemeralReply(fake, no.id)).toMatch(/Only <@\d+> \(who asked for it\) or a moderator can cancel/);
    expect(h.bot.store.getJob(queuedJob.id)!.state).toBe('queued');

    // a moderator may cancel the queued one
    const yes = fake.clickButton({ messageId: queued.messageId, customId: `reverie:cancel:${queuedJob.id}`, user: mod });
    const ack = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === yes.id);
    expect(ack.body).toEqual({ type: 6 });
    const cancelled = await waitForContent(fake, queued.messageId, new RegExp(`Cancelled by <@${mod.id}>`));
    expect(cancelled.components[0]!.components.map((c: { custom_id: string }) => c.custom_id)).toEqual([
      `reverie:reroll:${queuedJob.id}`,
      `reverie:delete:${queuedJob.id}`,
    ]);

    // the requester cancels the running one: it stops within a step
    const own = fake.clickButton({ messageId: running.messageId, customId: `reverie:cancel:${runningJob.id}`, user: alice });
    await fake.waitForRequest((r) => r.params.interaction === own.id);
    hold.release();
    await waitForContent(fake, running.messageId, new RegExp(`Cancelled by <@${alice.id}> at step \\d+/30`));
    await fake.waitFor(() => runner.runs.find((r) => r.jobId === runningJob.id && r.outcome === 'aborted'), { what: 'the run to stop' });
    expect(h.bot.store.getJob(runningJob.id)!.state).toBe('cancelled');
    expect(runner.runs.find((r) => r.jobId === runningJob.id)!.endStep).toBeLessThan(30);

    // /queue cancel:<id> works too, with the same rule
    const hold2 = runner.holdAt(1);
    const third = await imagine(fake, alice, 'third', 30);
    await hold2.reached;
    const thirdJob = (await jobFor(h, third.messageId));
    const byCarol = fake.slashCommand({ name: 'queue', user: carol, options: [str('cancel', thirdJob.id)] });
    expect(await ephemeralReply(fake, byCarol.id)).toMatch(/Only <@\d+>/);
    const byAlice = fake.slashCommand({ name: 'queue', user: alice, options: [str('cancel', thirdJob.id)] });
    expect(await ephemeralReply(fake, byAlice.id)).toMatch(/Cancelled job `[0-9a-f]+`/);
    hold2.release();
    await waitForContent(fake, third.messageId, /Cancelled/);
  });

  it('Delete removes a finished message (requester or moderator only)', async () => {
    const { fake } = h;
    const alice = user(fake, 'alice');
    const carol = user(fake, 'carol');
    const m = await imagine(fake, alice, 'to delete', 5);
    await waitForContent(fake, m.messageId, /Finished/);
    const job = (await jobFor(h, m.messageId));
    const no = fake.clickButton({ messageId: m.messageId, customId: `reverie:delete:${job.id}`, user: carol });
    expect(await ephemeralReply(fake, no.id)).toMatch(/can delete this/);
    expect(fake.messages.get(m.messageId)!.deleted).toBe(false);
    fake.clickButton({ messageId: m.messageId, customId: `reverie:delete:${job.id}`, user: alice });
    await fake.waitForRequest((r) => r.route === 'DELETE /channels/:channel/messages/:message' && r.params.message === m.messageId);
    expect(fake.messages.get(m.messageId)!.deleted).toBe(true);
  });
});
