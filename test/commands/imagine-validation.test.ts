import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import type { Json } from '../fake-discord/index.ts';
import { imagineRefusal, replyMessage, startHarness, str, int, num, unsafeTexts, user, type Harness } from '../bot/helpers/harness.ts';

const CALLBACK = 'POST /interactions/:interaction/:token/callback';

// Invalid /imagine inputs get ephemeral (flags 64) errors and queue nothing; attachments are checked
// by type, size and host before any download, and by their header bytes while downloading.
describe('/imagine input validation (e2e)', () => {
  let h: Harness;
  let png: Buffer;
  beforeAll(async () => {
    h = await startHarness({ deps: { attachments: { maxBytes: 256 * 1024 } } });
    png = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3a6' } }).png().toBuffer();
  });
  afterAll(async () => {
    // every error path above: no reply has a server path, a stack or a library's raw error
    if (h) expect(unsafeTexts(h.fake)).toEqual([]);
    await h?.close();
  });

  const errorFor = (options: Json[], attachments: Parameters<Harness['fake']['slashCommand']>[0]['attachments'] = []) => imagineRefusal(h, options, attachments);

  it('empty prompt', async () => {
    expect(await errorFor([str('prompt', '   ')])).toMatch(/prompt is empty/);
  });

  it('unparseable weights', async () => {
    expect(await errorFor([str('prompt', 'a cat:heavy | a dog:0.5')])).toMatch(/couldn't read the weight “heavy”/);
    expect(await errorFor([str('prompt', 'a cat:1:zz')])).toMatch(/couldn't read the weight “zz”/);
    expect(await errorFor([str('prompt', 'a cat | | dog')])).toMatch(/empty prompt between/);
    expect(await errorFor([str('prompt', 'blurry:-1')])).toMatch(/positive weight/);
  });

  it('out-of-range numbers, all reported at once', async () => {
    const text = await errorFor([str('prompt', 'fine'), int('steps', 5000), int('size', 4096), num('learning_rate', 3)]);
    expect(text).toMatch(/Steps must be between 1 and 200 .*you asked for 5000/);
    expect(text).toMatch(/size must be a whole number of pixels between 64 and 256/);
    expect(text).toMatch(/learning rate must be between 0\.000001 and 1/);
    expect(text.split('\n').filter((l) => l.startsWith('•'))).toHaveLength(3);
  });

  it('an attachment that is not an image (by its content type) is refused before any download', async () => {
    const att = h.fake.addCdnFile(Buffer.from('hello'), { filename: 'notes.txt', contentType: 'text/plain' });
    expect(await errorFor([str('prompt', 'x'), { name: 'init_image', type: 11, value: att.id }], [att])).toMatch(/not a picture I can read \(it is text\/plain\)/);
    expect(h.fake.cdnStats(att)!.requests).toBe(0);
  });

  it('an attachment declared too large is refused before any download', async () => {
    const att = h.fake.addCdnFile(png, { filename: 'big.png', contentType: 'image/png', declaredSize: 20 * 1024 * 1024 });
    expect(await errorFor([str('prompt', 'x'), { name: 'image_prompt', type: 11, value: att.id }], [att])).toMatch(/is 20\.0 MiB; the limit is 0\.25 MiB/);
    expect(h.fake.cdnStats(att)!.requests).toBe(0);
  });

  it('an attachment not on the CDN host is refused', async () => {
    const att = { ...h.fake.addCdnFile(png, { filename: 'a.png', contentType: 'image/png' }) };
    att.url = 'https://example.com/a.png';
    expect(await errorFor([str('prompt', 'x'), { name: 'init_image', type: 11, value: att.id }], [att])).toMatch(/uploaded to Discord/);
  });

  it("an attachment whose header bytes are not an image is caught while downloading, and the download is aborted", async () => {
    const att = h.fake.addCdnFile(Buffer.from('GIF? no, just text pretending '), {
      filename: 'fake.png',
      contentType: 'image/png',
      declaredSize: 1000,
      endless: true,
      stream: { chunk: 4096, delayMs: 2 },
    });
    expect(await errorFor([str('prompt', 'x'), { name: 'init_image', type: 11, value: att.id }], [att])).toMatch(/not a PNG, JPEG, WebP or GIF image \(its contents say otherwise\)/);
    await h.fake.waitFor(() => h.fake.cdnStats(att)!.aborted, { what: 'the CDN download to be aborted' });
    expect(h.fake.cdnStats(att)!.bytesSent).toBeLessThan(8 * 1024 * 1024);
  });

  it('an attachment larger than the limit (the object lied) is aborted at the limit', async () => {
    const att = h.fake.addCdnFile(png.subarray(0, 64), { filename: 'huge.png', contentType: 'image/png', declaredSize: 1000, endless: true, stream: { chunk: 32 * 1024, delayMs: 1 } });
    expect(await errorFor([str('prompt', 'x'), { name: 'image_prompt', type: 11, value: att.id }], [att])).toMatch(/larger than the 0\.25 MiB limit/);
    await h.fake.waitFor(() => h.fake.cdnStats(att)!.aborted, { what: 'the CDN download to be aborted' });
    expect(h.fake.cdnStats(att)!.bytesSent).toBeLessThan(16 * 1024 * 1024);
  });

  it('good attachments are downloaded from the CDN and given to the job as files', async () => {
    const { fake } = h;
    const init = fake.addCdnFile(png, { filename: 'start.png', contentType: 'image/png', width: 32, height: 32 });
    const jpeg = await sharp(png).jpeg().toBuffer();
    const ip = fake.addCdnFile(jpeg, { filename: 'look.jpg', contentType: 'image/jpeg' });
    const hold = h.runners[0]!.holdAt(1); // the uploads go once the job ends
    const i = fake.slashCommand({
      name: 'imagine',
      user: user(fake, 'alice'),
      options: [str('prompt', 'from an image'), int('steps', 5), { name: 'init_image', type: 11, value: init.id }, { name: 'image_prompt', type: 11, value: ip.id }],
      attachments: [init, ip],
    });
    const msg = await replyMessage(fake, i.id);
    const job = await fake.waitFor(() => h.bot.store.findByMessageId(msg.id));
    expect(job.request.initImage).toMatch(/init_image\.png$/);
    expect(job.request.imagePrompts![0]).toMatch(/image_prompt\.jpg$/);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(job.request.initImage!)).toEqual(png);
    expect(fake.cdnStats(init)!.requests).toBe(1);
    await hold.reached;
    hold.release();
    await h.bot.scheduler.whenIdle();
  });

  it('the per-user cap is refused privately before anything goes public', async () => {
    const { fake } = h;
    const dave = user(fake, 'dave');
    const hold = h.runners[0]!.holdAt(1);
    h.bot.scheduler.setLimits({ perUserCap: 1 });
    const first = fake.slashCommand({ name: 'imagine', user: dave, options: [str('prompt', 'one'), int('steps', 5)] });
    await replyMessage(fake, first.id);
    await hold.reached;
    const second = fake.slashCommand({ name: 'imagine', user: dave, options: [str('prompt', 'two'), int('steps', 5)] });
    const cb = await fake.waitForRequest((r) => r.route === CALLBACK && r.params.interaction === second.id);
    expect(cb.body).toMatchObject({ type: 4, data: { flags: 64 } });
    expect(cb.body!.data.content).toMatch(/already have 1 job waiting or running \(the limit is 1\)/);
    h.bot.scheduler.setLimits({ perUserCap: 5 });
    hold.release();
    await h.bot.scheduler.whenIdle();
  });
});
