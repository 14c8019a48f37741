/**
 * Issue 15 through the real bot (discord.js ↔ fake Discord, real store and files): damaged images are
 * refused privately before queueing, the disk guard refuses politely, an ended job's uploads and
 * snapshots go while its final picture and timelapse stay, a job promised to carry on that the store
 * lost is told so, and no text the bot sent (every error path here included) has a path, a stack or a
 * library's raw error in it.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DISK_FULL_MESSAGE } from '../../src/jobs/admission.ts';
import type { JobRecord, JobResult, JobRunnerContext } from '../../src/jobs/types.ts';
import type { Json } from '../fake-discord/index.ts';
import { PaintRunner } from './helpers/paint-runner.ts';
import { everythingSent, imagineRefusal, replyMessage, startHarness, str, int, unsafeTexts, user, waitForContent, type Harness } from './helpers/harness.ts';

const CALLBACK = 'POST /interactions/:interaction/:token/callback';

/** Fails like a library would, with a server path in its message, when the prompt says "explode". */
class ExplodingRunner extends PaintRunner {
  override async run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    if (job.request.prompt.includes('explode')) {
      throw new Error(`could not read image ${path.join(process.cwd(), 'data/uploads/x-init_image.png')}: vipspng: libpng read error\n    at load (/srv/reverie/src/engine/generate/images.ts:12:3)`);
    }
    return super.run(job, ctx);
  }
}

describe('hardening through the bot (issue 15)', () => {
  let h: Harness;
  let png: Buffer;
  beforeAll(async () => {
    h = await startHarness({ runners: [new ExplodingRunner({ device: 'cpu', stepDelayMs: 5 })] });
    png = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 60 } } }).png().toBuffer();
  });
  afterAll(async () => {
    // the scan of every reply this file provoked, error paths included
    expect(everythingSent(h.fake).length).toBeGreaterThan(5);
    expect(unsafeTexts(h.fake)).toEqual([]);
    await h?.close();
  });

  const privateRefusal = (options: Json[], attachments: Parameters<Harness['fake']['slashCommand']>[0]['attachments'] = []) => imagineRefusal(h, options, attachments);

  const uploads = (): string[] => {
    try {
      return fs.readdirSync(path.join(h.dataDir, 'uploads'));
    } catch {
      return [];
    }
  };

  it('a truncated PNG (60 % of the file) and a PNG with a bad IDAT are refused privately before queueing', async () => {
    const truncated = png.subarray(0, Math.floor(png.length * 0.6));
    const badIdat = Buffer.from(png);
    const at = badIdat.indexOf('IDAT');
    for (let k = at + 20; k < at + 80; k++) badIdat[k] = badIdat[k]! ^ 0xff;
    expect((await sharp(truncated).metadata()).width).toBe(96); // the header alone looks fine
    for (const [name, data] of [['cut.png', truncated], ['bad-idat.png', badIdat]] as const) {
      const att = h.fake.addCdnFile(data, { filename: name, contentType: 'image/png' });
      const text = await privateRefusal([str('prompt', 'from this'), { name: 'init_image', type: 11, value: att.id }], [att]);
      expect(text).toMatch(new RegExp(`init_image “${name}” .*damaged or cut short`));
    }
    expect(uploads()).toEqual([]); // nothing left behind
  });

  it('the disk guard refuses new jobs politely', async () => {
    const real = h.bot.ctx.diskSpace;
    h.bot.ctx.diskSpace = () => ({ ok: false, freeMb: 12, minFreeMb: 500 });
    try {
      expect(await privateRefusal([str('prompt', 'a lighthouse')])).toBe(DISK_FULL_MESSAGE);
    } finally {
      h.bot.ctx.diskSpace = real;
    }
  });

  it('a failure with a path in the raw error reaches the user as plain words with the job id', async () => {
    const i = h.fake.slashCommand({ name: 'imagine', user: user(h.fake, 'bob'), options: [str('prompt', 'explode please'), int('steps', 5)] });
    const msg = await replyMessage(h.fake, i.id);
    const failed = await waitForContent(h.fake, msg.id, /failed/);
    const job = h.bot.store.findByMessageId(msg.id)!;
    expect(failed.content).toMatch(new RegExp(`images this job starts from could not be read \\(the details are in the bot's log under job ${job.id}\\)`));
    // the details are in the log, with the job id
    expect(h.logs.some((l) => l.includes(job.id) && l.includes('libpng read error'))).toBe(true);
  });

  it('retention: an ended job loses its upload and snapshots, keeps its final picture and timelapse', async () => {
    const att = h.fake.addCdnFile(png, { filename: 'start.png', contentType: 'image/png' });
    const i = h.fake.slashCommand({ name: 'imagine', user: user(h.fake, 'carol'), options: [str('prompt', 'keep me'), int('steps', 12), { name: 'init_image', type: 11, value: att.id }], attachments: [att] });
    const msg = await replyMessage(h.fake, i.id);
    await waitForContent(h.fake, msg.id, /Finished/);
    const job = h.bot.store.findByMessageId(msg.id)!;
    expect(job.request.initImage).toMatch(/init_image\.png$/);
    await h.fake.waitFor(() => !fs.existsSync(job.request.initImage!), { what: 'the upload to go' });
    const dir = path.dirname(job.resultPath!);
    const files = fs.readdirSync(dir).sort();
    expect(files).toEqual(expect.arrayContaining(['result.png', 'timelapse.webp']));
    expect(files.filter((f) => /^(snapshot|checkpoint)-/.test(f))).toEqual([]);
    expect(h.bot.store.getJob(job.id)!.snapshotPath).toBeUndefined();
  });

  it('/reverie stats shows the size of the data folder', async () => {
    const admin = user(h.fake, 'root', { admin: true });
    const i = h.fake.slashCommand({ name: 'reverie', user: admin, options: [{ name: 'stats', type: 1, options: [] }] });
    const cb = await h.fake.waitForRequest((r) => r.route === CALLBACK && r.params.interaction === i.id);
    expect(String(cb.body!.data.content)).toMatch(/\*\*Data folder\*\*: [\d.]+ (B|KiB|MiB) in \d+ file\(s\)/);
  });
});

describe('a job promised to carry on that the store lost', () => {
  it('its message says it could not carry on', async () => {
    const h1 = await startHarness({ stepDelayMs: 20 });
    const hold = h1.runners[0]!.holdAt(3);
    const i = h1.fake.slashCommand({ name: 'imagine', user: user(h1.fake, 'alice'), options: [str('prompt', 'a promise'), int('steps', 50)] });
    const msg = await replyMessage(h1.fake, i.id);
    await hold.reached;
    hold.release();
    await h1.stopBot(); // graceful: "will carry on from here"
    await waitForContent(h1.fake, msg.id, /will carry on/);
    // the store is lost (moved aside): a new, empty one starts
    fs.renameSync(h1.config.dbPath, `${h1.config.dbPath}.aside`);
    for (const s of ['-wal', '-shm']) fs.rmSync(h1.config.dbPath + s, { force: true });
    const h2 = await startHarness({ fake: h1.fake, dataDir: h1.dataDir });
    try {
      const m = await waitForContent(h2.fake, msg.id, /could not carry on/);
      expect(m.content).toMatch(/a promise/);
      expect(m.content).not.toMatch(/will carry on/);
    } finally {
      await h2.close();
      await h1.close();
    }
  });
});

describe('a bot that loses its lease', () => {
  it('stops rather than share the store with the process that took it over', async () => {
    const h = await startHarness({ deps: { lease: { staleMs: 1200 } } });
    try {
      const { openStore } = await import('../../src/jobs/store.ts');
      const other = openStore({ dataDir: h.dataDir });
      expect(other.readLease()).toMatchObject({ pid: process.pid });
      other.acquireLease({ token: 'intruder', pid: 1, host: 'elsewhere', staleMs: -1 }); // as if the bot had hung
      await h.fake.waitFor(() => (h.bot.scheduler.isShuttingDown ? true : undefined), { what: 'the bot to stop', timeout: 10_000 });
      expect(h.logs.some((l) => l.includes('another process took over this job store'))).toBe(true);
      expect(other.readLease()).toMatchObject({ token: 'intruder' }); // not released by the loser
      other.close();
    } finally {
      await h.close();
    }
  });
});
