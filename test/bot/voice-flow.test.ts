/**
 * Voice prompts end to end: the real discord.js client against the fake Discord, real store and
 * scheduler, real audio (espeak-ng speech through opusenc, as a Discord voice message) downloaded from
 * the fake CDN and decoded in JS. Speech-to-text itself is a stand-in here (no released Whisper weights
 * in CI; the worker path is tested in test/engine/transcribe-worker.test.ts): it "hears" the sentence
 * espeak-ng said when the 16 kHz samples it gets carry sound, and silence otherwise.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/engine/audio/index.ts';
import type { SpeechRequest, SpeechResult } from '../../src/jobs/types.ts';
import type { Json } from '../fake-discord/index.ts';
import { haveSpeechTools, makeSpeech, type SpeechFiles } from '../helpers/speech.ts';
import { jobFor, startHarness, str, user, waitForContent, type Harness } from './helpers/harness.ts';
import { PaintRunner } from './helpers/paint-runner.ts';

const SAID = 'Reverie, paint a lighthouse in a storm.';
const CALLBACK = 'POST /interactions/:interaction/:token/callback';

class ListeningRunner extends PaintRunner {
  readonly heard: SpeechRequest[] = [];
  async transcribe(req: SpeechRequest): Promise<SpeechResult> {
    this.heard.push(req);
    const rms = Math.sqrt(req.pcm.reduce((a, v) => a + v * v, 0) / Math.max(1, req.pcm.length));
    const speech = rms > 1e-3;
    return { text: speech ? ` ${SAID}` : '', language: 'en', noSpeechProb: speech ? 0.02 : 0.97, audioSeconds: req.pcm.length / 16000, ms: 5, device: this.device };
  }
}

describe.skipIf(!haveSpeechTools)('voice prompts through the fake Discord', () => {
  let h: Harness;
  let runner: ListeningRunner;
  let speech: SpeechFiles;
  let long: SpeechFiles;
  beforeAll(async () => {
    speech = makeSpeech(SAID);
    long = makeSpeech('This clip goes on for too long.', { padSeconds: 61 });
    runner = new ListeningRunner({ device: 'cpu', stepDelayMs: 2 });
    h = await startHarness({ runners: [runner] });
  });
  afterAll(async () => {
    await h?.close();
    for (const s of [speech, long]) if (s) fs.rmSync(s.dir, { recursive: true, force: true });
  });

  const voiceMessage = (file: string, seconds: number) => {
    const { fake } = h;
    const att = fake.addCdnFile(fs.readFileSync(file), { filename: 'voice-message.ogg', contentType: 'audio/ogg' });
    return fake.postAsMember({ user: user(fake, 'bob'), attachments: [att], voice: { durationSecs: seconds } });
  };

  /** The interaction's private answer (after a public defer: a follow-up with flags 64). */
  async function privateAnswer(id: string): Promise<string> {
    const { fake } = h;
    const cb = await fake.waitForRequest((r) => r.route === CALLBACK && r.params.interaction === id);
    if (cb.body!.type === 4) {
      expect(cb.body!.data.flags & 64).toBe(64);
      return String(cb.body!.data.content);
    }
    const st = fake.interactionState(id)!;
    const follow = await fake.waitForRequest((r) => r.route === 'POST /webhooks/:app/:token' && r.params.token === st.token, { timeout: 20000 });
    expect(follow.body!.flags & 64).toBe(64);
    return String(follow.body!.content);
  }

  async function heardAndJob(id: string) {
    const { fake } = h;
    const st = await fake.waitFor(() => {
      const s = fake.interactionState(id);
      const m = s?.originalMessageId ? fake.messages.get(s.originalMessageId) : undefined;
      return m?.content ? s : undefined;
    }, { what: 'the heard reply' });
    const reply = fake.messages.get(st!.originalMessageId!)!;
    const follow = await fake.waitForRequest((r) => r.route === 'POST /webhooks/:app/:token' && r.params.token === st!.token && !(Number(r.body?.flags ?? 0) & 64));
    const jobMsgId = String((follow.response as Json).id);
    return { reply, jobMsgId };
  }

  it('"Paint this" on a voice message: transcript shown, the stripped words queued, the result posted', async () => {
    const { fake } = h;
    const target = voiceMessage(speech.ogg, 4);
    const before = runner.heard.length;
    const i = fake.messageCommand({ name: 'Paint this', messageId: target.id, user: user(fake, 'alice') });
    const { reply, jobMsgId } = await heardAndJob(i.id);
    expect(reply.content).toBe(`🎙️ heard: “${SAID}”`);
    // the engine got the decoded clip at 16 kHz
    const pcm = runner.heard[before]!.pcm;
    expect(Math.abs(pcm.length / 16000 - 3.3)).toBeLessThan(1.5);
    const job = await jobFor(h, jobMsgId);
    expect(job.request.prompt).toBe('a lighthouse in a storm');
    expect(job.userId).toBe([...fake.users.values()].find((u) => u.username === 'alice')!.id);
    expect(job.request.steps).toBe(h.config.defaultSteps);
    const done = await waitForContent(fake, jobMsgId, /Finished/);
    expect(done.attachments.some((a) => a.filename.endsWith('.png'))).toBe(true);
  });

  it('"Paint this" on a text message paints its text', async () => {
    const { fake } = h;
    const target = fake.postAsMember({ user: user(fake, 'bob'), content: 'a red fox in the snow <@123456789012345678>' });
    const i = fake.messageCommand({ name: 'Paint this', messageId: target.id, user: user(fake, 'alice') });
    const msg = await fake.waitFor(() => {
      const s = fake.interactionState(i.id);
      return s?.originalMessageId ? fake.messages.get(s.originalMessageId) : undefined;
    }, { what: 'the job reply' });
    const job = await jobFor(h, msg.id);
    expect(job.request.prompt).toBe('a red fox in the snow');
    await waitForContent(fake, msg.id, /Finished/);
  });

  it('/imagine voice: with a typed prompt: the typed words first, then the spoken ones', async () => {
    const { fake } = h;
    const att = fake.addCdnFile(fs.readFileSync(speech.wav22k), { filename: 'idea.wav', contentType: 'audio/wav' });
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'carol'), options: [str('prompt', 'watercolour'), { name: 'voice', type: 11, value: att.id }], attachments: [att] });
    const { reply, jobMsgId } = await heardAndJob(i.id);
    expect(reply.content).toBe(`🎙️ heard: “${SAID}”`);
    const job = await jobFor(h, jobMsgId);
    expect(job.request.prompt).toBe('watercolour, a lighthouse in a storm');
    await waitForContent(fake, jobMsgId, /Finished/);
  });

  it('a clip over the limit, a file that is not audio, and silence each get a clear private answer', async () => {
    const { fake } = h;
    const jobs = h.bot.store.listJobs().length;
    const tooLong = voiceMessage(long.ogg, 64);
    const a = fake.messageCommand({ name: 'Paint this', messageId: tooLong.id, user: user(fake, 'dave') });
    expect(await privateAnswer(a.id)).toMatch(/“voice-message\.ogg” is too long \(6\d\.\d s\)\. I listen to at most 60 seconds/);

    const fakeAudio = fake.addCdnFile(Buffer.from('%PDF-1.7\n% not a sound at all\n'.repeat(20)), { filename: 'notes.ogg', contentType: 'audio/ogg' });
    const b = fake.slashCommand({ name: 'imagine', user: user(fake, 'dave'), options: [{ name: 'voice', type: 11, value: fakeAudio.id }], attachments: [fakeAudio] });
    expect(await privateAnswer(b.id)).toMatch(/“notes\.ogg” is not audio I can read/);

    const pdf = fake.addCdnFile(Buffer.from('%PDF-1.7'), { filename: 'doc.pdf', contentType: 'application/pdf' });
    const c = fake.slashCommand({ name: 'imagine', user: user(fake, 'dave'), options: [{ name: 'voice', type: 11, value: pdf.id }], attachments: [pdf] });
    expect(await privateAnswer(c.id)).toMatch(/“doc\.pdf” is not a voice message or an audio file \(it is application\/pdf\)/);

    const quiet = fake.addCdnFile(encodeWav(new Float32Array(48000 * 3), 48000), { filename: 'quiet.wav', contentType: 'audio/wav' });
    const d = fake.slashCommand({ name: 'imagine', user: user(fake, 'dave'), options: [{ name: 'voice', type: 11, value: quiet.id }], attachments: [quiet] });
    expect(await privateAnswer(d.id)).toMatch(/couldn't hear any words/);

    expect(h.bot.store.listJobs().length).toBe(jobs);
  });

  it('/reverie stats shows the transcription time', async () => {
    const { fake } = h;
    const i = fake.slashCommand({ name: 'reverie', user: user(fake, 'admin', { admin: true }), options: [{ name: 'stats', type: 1, options: [] }] });
    const text = await privateAnswer(i.id);
    expect(text).toMatch(/\*\*Voice prompts\*\*/);
    expect(text).toMatch(/[3-9] clip\(s\) transcribed · median 0\.0\d s each \(0\.00\d s per second of audio\) · 0\.\d s of device time in all/);
  });
});
