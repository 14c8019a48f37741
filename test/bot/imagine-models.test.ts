import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { bigganFixture, fixture } from '../helpers/fixtures.ts';
import { buttonIds, jobFor, replyMessage, startHarness, str, int, user, waitForContent, type Harness } from './helpers/harness.ts';

// /imagine model:biggan and model:siren through the fake Discord with the real engine (a worker thread)
// on the tiny models: BigGAN-deep 32×32 (the fixture serves every BigGAN size), a 3 × 16 SIREN.
describe('/imagine with model:biggan and model:siren', () => {
  let h: Harness;
  beforeAll(async () => {
    const engine = new EngineRunner({
      clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), bigganDir: bigganFixture('biggan'), siren: { numLayers: 3, dimHidden: 16 }, device: 'cpu', threads: 1,
    });
    await engine.whenReady();
    h = await startHarness({ runners: [engine], env: { DEFAULT_CUTN: '4' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  for (const [model, label] of [['biggan', 'BigGAN+CLIP'], ['siren', 'SIREN+CLIP']] as const) {
    it(`model:${model}: progress, thread, result with the model named; re-roll keeps the model`, async () => {
      const { fake } = h;
      const alice = user(fake, 'alice');
      const it0 = fake.slashCommand({ name: 'imagine', user: alice, options: [str('prompt', `a castle by ${model}`), str('model', model), int('steps', 10), int('seed', 42)] });
      const msg = await replyMessage(fake, it0.id);
      const done = await waitForContent(fake, msg.id, /Finished/);
      const edits = fake.find((r) => r.route === 'PATCH /channels/:channel/messages/:message' && r.params.message === msg.id);
      expect(edits.some((r) => /step \d+\/10/.test(String(r.body?.content)))).toBe(true);
      const thread = fake.threadOf(msg.id);
      expect(thread).toBeDefined();
      await fake.waitFor(() => fake.channelMessages(thread!.id).some((m) => /^Step \d+\/10$/.test(m.content)), { what: 'snapshots in the thread' });
      expect(done.content).toContain(label);
      expect(done.attachments.map((a) => a.filename)).toEqual(['reverie-42.png']);
      const parent = await jobFor(h, msg.id);
      expect(parent.state).toBe('done');
      expect(parent.request.model).toBe(model);
      if (model === 'biggan') expect(parent.request).toMatchObject({ width: 128, height: 128 });
      expect(buttonIds(done)[0]).toBe(`reverie:reroll:${parent.id}`);

      const press = fake.clickButton({ messageId: msg.id, customId: `reverie:reroll:${parent.id}`, user: alice });
      const m2 = await replyMessage(fake, press.id);
      const d2 = await waitForContent(fake, m2.id, /Finished/);
      const child = await jobFor(h, m2.id);
      expect(child).toMatchObject({ parentId: parent.id, state: 'done' });
      expect(child.request.model).toBe(model);
      expect(child.request.seed).not.toBe(parent.request.seed);
      expect(d2.content).toContain(label);

      const vary = fake.clickButton({ messageId: msg.id, customId: `reverie:vary:${parent.id}`, user: alice });
      const m3 = await replyMessage(fake, vary.id);
      await waitForContent(fake, m3.id, /Finished/);
      const v = await jobFor(h, m3.id);
      expect(v.request.model).toBe(model);
      expect(v.request.initZ).toBe(parent.finalZPath);
    });
  }

  it('BigGAN sizes other than 128, 256 or 512 are refused with a message that says so', async () => {
    const { fake } = h;
    const it0 = fake.slashCommand({ name: 'imagine', user: user(fake, 'bob'), options: [str('prompt', 'a bird'), str('model', 'biggan'), int('size', 200)] });
    const cb = await fake.waitForRequest((r) => r.route === 'POST /interactions/:interaction/:token/callback' && r.params.interaction === it0.id);
    expect(JSON.stringify(cb.body)).toMatch(/128, 256 or 512/);
  });
});
