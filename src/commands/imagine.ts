/**
 * /imagine [prompt:<text>] [voice:<audio>] [style] [aspect] [size] [steps] [seed] [image_prompt] [init_image]
 *          [cutouts] [learning_rate] [optimiser]
 *
 * Validates everything it can before answering (errors are ephemeral), defers within Discord's 3 s,
 * downloads attachments from Discord's CDN, queues the job and hands the reply message to the presenter.
 * With voice: the clip is transcribed first ("🎙️ heard: “…”" in the reply, the job in a follow-up) and
 * its words are the prompt, after the typed one when both are given.
 */
import { InteractionContextType, SlashCommandBuilder, type Attachment, type ChatInputCommandInteraction } from 'discord.js';
import fs from 'node:fs';
import type { Config } from '../config.ts';
import { DISK_FULL_MESSAGE } from '../jobs/admission.ts';
import { AttachmentError, checkAttachmentMeta, downloadImage, type AttachmentInfo } from '../bot/attachments.ts';
import type { BotContext } from '../bot/context.ts';
import { replyPrivately, type Command } from '../bot/interaction.ts';
import { REQUEST_FIELDS, type RequestFields } from '../engine/request-schema.ts';
import type { GenerationRequest } from '../jobs/types.ts';
import { combinePrompts } from '../jobs/voice-prompt.ts';
import { checkAudioMeta, VoiceError } from '../bot/voice.ts';
import { listen, queueNewJob } from './listen.ts';
import { addRequestOptions, readRequestOptions } from './request-options.ts';
import { ASPECTS, buildRequest, MAX_PROMPT_CHARS, STYLES, ValidationError } from './validate.ts';

/** Registration ceiling: generous, because admins can raise limits at run time; the handler checks the live ones. */
const SIZE_CEILING = 8192;

/** Options in this order: prompt and presets, the schema's basic fields, attachments, the advanced ones. */
export function imagineDefinition(_config: Config, fields: RequestFields = REQUEST_FIELDS) {
  const b = new SlashCommandBuilder()
    .setName('imagine')
    .setDescription('Paint a picture from text with VQGAN+CLIP')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription('What to paint. Weighted: "a lighthouse:1 | storm:0.5 | blurry:-1"')
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addAttachmentOption((o) => o.setName('voice').setDescription('Say what to paint: a voice clip (Ogg/Opus or WAV), after the prompt if both'))
    .addStringOption((o) =>
      o
        .setName('style')
        .setDescription('A style preset added to your prompt')
        .addChoices(...STYLES.map((s) => ({ name: s.name, value: s.name }))),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription('Shape of the picture (default square)')
        .addChoices(...ASPECTS.map((a) => ({ name: a.name, value: a.value }))),
    )
    .addIntegerOption((o) => o.setName('size').setDescription('Longest side in pixels (rounded down to a multiple of 16)').setMinValue(16).setMaxValue(SIZE_CEILING));
  addRequestOptions(b, 'basic', fields);
  b.addAttachmentOption((o) => o.setName('image_prompt').setDescription('An image to paint towards (its look, not its layout)'))
    .addAttachmentOption((o) => o.setName('init_image').setDescription('An image to start from instead of noise'));
  return addRequestOptions(b, 'advanced', fields).toJSON();
}

function attachmentInfo(label: string, a: Attachment): AttachmentInfo {
  return { label, name: a.name, url: a.url, size: a.size, contentType: a.contentType };
}

export async function executeImagine(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const o = i.options;
  const typed = o.getString('prompt');
  const voice = o.getAttachment('voice');
  if (!voice && !typed?.trim()) return replyPrivately(i, "I can't paint that yet: the prompt is empty. Type a prompt, attach a voice clip (voice:), or both.");
  const input = (prompt: string) => ({ ...readRequestOptions(o), prompt, style: o.getString('style'), aspect: o.getString('aspect'), size: o.getInteger('size') });
  let built;
  try {
    // with a voice clip, everything but the words is checked now, before listening
    built = buildRequest(input(typed?.trim() ? typed : 'a voice prompt'), ctx.limits.get(), ctx.defaults);
  } catch (e) {
    if (e instanceof ValidationError) return replyPrivately(i, `I can't paint that yet: ${e.userMessage}`);
    throw e;
  }

  const policy = { ...ctx.attachments, maxBytes: Math.min(ctx.attachments.maxBytes, i.attachmentSizeLimit ?? Infinity) };
  const clip = voice ? attachmentInfo('voice', voice) : undefined;
  if (clip) {
    try {
      checkAudioMeta(clip, policy);
    } catch (e) {
      if (e instanceof VoiceError) return replyPrivately(i, e.userMessage);
      throw e;
    }
  }
  const wanted: AttachmentInfo[] = [];
  for (const label of ['image_prompt', 'init_image'] as const) {
    const a = o.getAttachment(label);
    if (!a) continue;
    const info = attachmentInfo(label, a);
    try {
      checkAttachmentMeta(info, policy);
    } catch (e) {
      if (e instanceof AttachmentError) return replyPrivately(i, e.userMessage);
      throw e;
    }
    wanted.push(info);
  }

  // refuse before going public when the user's cap is already reached
  const cap = ctx.scheduler.limits.perUserCap;
  const mine = ctx.scheduler.userJobs(i.user.id).length;
  if (cap > 0 && mine >= cap) {
    return replyPrivately(i, `You already have ${mine} job${mine === 1 ? '' : 's'} waiting or running (the limit is ${cap}): wait for one to finish, or cancel one with /queue.`);
  }

  // short of disk space: refuse before downloading anything
  const disk = ctx.diskSpace?.();
  if (disk && !disk.ok) {
    ctx.log.warn({ user: i.user.id, freeMb: disk.freeMb, minFreeMb: disk.minFreeMb }, 'imagine: refused, the data folder is short of disk space');
    return replyPrivately(i, DISK_FULL_MESSAGE);
  }

  await i.deferReply();

  if (clip) {
    const spoken = await listen(i, ctx, clip, policy);
    if (spoken === undefined) return;
    try {
      built = buildRequest(input(combinePrompts(typed, spoken)), ctx.limits.get(), ctx.defaults);
    } catch (e) {
      if (e instanceof ValidationError) return replyPrivately(i, `I can't paint that: ${e.userMessage}`);
      throw e;
    }
  }

  // every attachment is downloaded and decoded whole before the job is queued; a damaged one is refused privately
  const request: GenerationRequest = { ...built.request };
  const downloaded: string[] = [];
  const dropDownloads = (): void => downloaded.forEach((f) => fs.rmSync(f, { force: true }));
  try {
    for (const info of wanted) {
      const img = await downloadImage(info, policy, ctx.uploadsDir);
      downloaded.push(img.path);
      if (info.label === 'image_prompt') request.imagePrompts = [img.path];
      else request.initImage = img.path;
    }
  } catch (e) {
    dropDownloads();
    if (e instanceof AttachmentError) {
      ctx.log.info({ user: i.user.id, interaction: i.id, reason: e.message }, 'imagine: attachment refused');
      return replyPrivately(i, e.userMessage);
    }
    throw e;
  }

  const jobId = await queueNewJob(i, ctx, request, { afterTranscript: Boolean(clip), logAs: 'imagine: queued', logFields: { user: i.user.id, steps: request.steps, size: `${request.width}x${request.height}`, ...(clip ? { voice: true } : {}) } });
  if (jobId === undefined) dropDownloads(); // refused: nothing will use them
}

export const imagine: Command = {
  name: 'imagine',
  definition: imagineDefinition,
  execute: executeImagine,
};
