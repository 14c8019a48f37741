/**
 * Voice prompts from Discord: an audio attachment (a voice message is an Ogg/Opus attachment with the
 * IS_VOICE_MESSAGE flag on its message) is checked from its attachment object, downloaded from
 * Discord's CDN only (size-capped, no redirects), decoded and resampled in JS, then transcribed on a
 * device by the job layer's Transcriber. Every way it can go wrong becomes a VoiceError with a clear
 * sentence for a private answer.
 */
import { AudioError, decodeAudio } from '../engine/audio/index.ts';
import { TranscriptionRefusedError, type HeardSpeech } from '../jobs/transcriber.ts';
import { hostAllowed, type AttachmentPolicy, type AttachmentInfo } from './attachments.ts';
import type { BotContext } from './context.ts';

export class VoiceError extends Error {
  override readonly name = 'VoiceError';
  constructor(readonly userMessage: string) {
    super(userMessage);
  }
}

const AUDIO_EXT = /\.(ogg|oga|opus|wav|wave)$/i;

/** Does the attachment claim to be audio (content type audio/*, or an audio file name)? */
export function isAudioAttachment(a: { name: string; contentType: string | null | undefined }): boolean {
  return (a.contentType ?? '').toLowerCase().startsWith('audio/') || AUDIO_EXT.test(a.name);
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 2 : 1)} MiB`;
}

/** Checks made before any byte is downloaded. */
export function checkAudioMeta(a: AttachmentInfo, policy: AttachmentPolicy): void {
  if (!isAudioAttachment(a)) {
    throw new VoiceError(`“${a.name}” is not a voice message or an audio file${a.contentType ? ` (it is ${a.contentType.split(';')[0]})` : ''}. Please attach a voice message, an Ogg/Opus or a WAV file.`);
  }
  if (a.size > policy.maxBytes) throw new VoiceError(`“${a.name}” is ${mib(a.size)}; the limit is ${mib(policy.maxBytes)}.`);
  if (!hostAllowed(a.url, policy)) throw new VoiceError('The audio must be uploaded to Discord (its link does not point at Discord\'s CDN).');
}

/** Downloads an audio attachment (after checkAudioMeta) into memory. */
export async function downloadAudio(a: AttachmentInfo, policy: AttachmentPolicy): Promise<Buffer> {
  checkAudioMeta(a, policy);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timeout')), policy.timeoutMs);
  try {
    let res: Response;
    try {
      res = await fetch(a.url, { signal: controller.signal, redirect: 'error' });
    } catch {
      throw new VoiceError(`I couldn't download “${a.name}” from Discord. Please try again.`);
    }
    if (!res.ok || !res.body) throw new VoiceError(`I couldn't download “${a.name}” (Discord answered ${res.status}). Please upload it again.`);
    const chunks: Buffer[] = [];
    let total = 0;
    const reader = res.body.getReader();
    try {
      for (;;) {
        const r = await reader.read().catch(() => {
          throw new VoiceError(`The download of “${a.name}” broke off. Please try again.`);
        });
        if (r.done) break;
        total += r.value.length;
        if (total > policy.maxBytes) throw new VoiceError(`“${a.name}” is larger than the ${mib(policy.maxBytes)} limit.`);
        chunks.push(Buffer.from(r.value));
      }
    } finally {
      if (total > policy.maxBytes) await reader.cancel().catch(() => undefined);
    }
    return Buffer.concat(chunks);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** The member-facing sentence for an audio problem. */
export function audioErrorMessage(e: AudioError, name: string, maxSeconds: number): string {
  switch (e.code) {
    case 'too_long':
      return `“${name}” is too long (${/[\d.]+ s/.exec(e.message)?.[0] ?? 'over the limit'}). I listen to at most ${maxSeconds} seconds; please send a shorter clip.`;
    case 'not_audio':
      return `“${name}” is not audio I can read. Please send a voice message, an Ogg/Opus or a WAV file.`;
    case 'unsupported':
      return `I can't decode “${name}”: ${e.message}. Please send a voice message, an Ogg/Opus or a WAV (PCM) file.`;
    case 'empty':
      return `“${name}” holds no sound.`;
    case 'no_decoder':
      return 'Voice prompts are not available here: the Opus decoder is not installed.';
    default:
      return `“${name}” looks like audio but is damaged (${e.message}).`;
  }
}

/** Download, decode and transcribe an attachment for a member. Throws VoiceError; a HeardSpeech may still say "no speech". */
export async function hearAttachment(ctx: BotContext, userId: string, a: AttachmentInfo, policy: AttachmentPolicy): Promise<HeardSpeech> {
  if (!ctx.transcriber.available) throw new VoiceError('Voice prompts are not available here: no painter can transcribe speech right now.');
  const bytes = await downloadAudio(a, policy);
  const max = ctx.config.maxAudioSeconds;
  let pcm: Float32Array;
  try {
    pcm = decodeAudio(bytes, { maxSeconds: max }).pcm;
  } catch (e) {
    if (e instanceof AudioError) throw new VoiceError(audioErrorMessage(e, a.name, max));
    throw e;
  }
  try {
    return await ctx.transcriber.hear(userId, { pcm });
  } catch (e) {
    if (e instanceof TranscriptionRefusedError) throw new VoiceError(e.userMessage);
    ctx.log.warn({ err: (e as Error).message, user: userId }, 'transcription failed');
    throw new VoiceError(`I couldn't transcribe that clip: ${(e as Error).message}.`);
  }
}

/** What the bot shows once it has heard the words. */
export function heardLine(heard: string): string {
  const h = heard.replace(/\s+/g, ' ').trim();
  return `🎙️ heard: “${h.length > 1800 ? `${h.slice(0, 1800)}…` : h}”`;
}
