/**
 * "Paint this" (Apps → Paint this on a message): a voice message or an audio attachment is transcribed
 * and its words painted; a text message's text is painted. The member's defaults fill in the rest (as
 * /imagine with only a prompt). Context-menu interactions carry the target message with its
 * attachments, so no privileged intent is needed.
 */
import { ApplicationCommandType, InteractionContextType, type Message, type MessageContextMenuCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot/context.ts';
import { replyPrivately, type MessageCommand } from '../bot/interaction.ts';
import { isAudioAttachment } from '../bot/voice.ts';
import { listen, queueNewJob } from './listen.ts';
import { buildRequest, MAX_PROMPT_CHARS, ValidationError } from './validate.ts';

export const PAINT_THIS = 'Paint this';

/**
 * The text of a message as a prompt: mentions, custom emoji and links out, whitespace folded, taken
 * literally (a message is not written in the prompt syntax: `|` and `:` become commas), cut to the limit.
 */
export function promptFromMessage(content: string): string {
  const s = content
    .replace(/<a?:\w+:\d+>/g, ' ') // custom emoji
    .replace(/<[@#][!&]?\d+>/g, ' ') // mentions
    .replace(/https?:\/\/\S+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/\s*[|:]\s*/g, ', ')
    .replace(/^(, )+|(, )+$/g, '')
    .trim();
  return s.length > MAX_PROMPT_CHARS ? s.slice(0, MAX_PROMPT_CHARS).replace(/\s+\S*$/, '') : s;
}

function audioOf(m: Message) {
  return m.attachments.find((a) => isAudioAttachment({ name: a.name, contentType: a.contentType }));
}

export async function executePaintThis(i: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void> {
  const target = i.targetMessage;
  const clip = audioOf(target);
  const text = clip ? '' : promptFromMessage(target.content);
  if (!clip && !text) {
    return replyPrivately(i, 'There is nothing to paint in that message: it has no text, voice message or audio file.');
  }
  try {
    buildRequest({ prompt: text || 'a voice prompt' }, ctx.limits.get(), ctx.defaults);
  } catch (e) {
    if (e instanceof ValidationError) return replyPrivately(i, `I can't paint that message: ${e.userMessage}`);
    throw e;
  }
  const cap = ctx.scheduler.limits.perUserCap;
  const mine = ctx.scheduler.userJobs(i.user.id).length;
  if (cap > 0 && mine >= cap) {
    return replyPrivately(i, `You already have ${mine} job${mine === 1 ? '' : 's'} waiting or running (the limit is ${cap}): wait for one to finish, or cancel one with /queue.`);
  }

  await i.deferReply();
  let prompt = text;
  if (clip) {
    const policy = { ...ctx.attachments, maxBytes: Math.min(ctx.attachments.maxBytes, i.attachmentSizeLimit ?? Infinity) };
    const heard = await listen(i, ctx, { label: 'voice message', name: clip.name, url: clip.url, size: clip.size, contentType: clip.contentType }, policy);
    if (heard === undefined) return;
    prompt = heard;
  }
  let built;
  try {
    built = buildRequest({ prompt }, ctx.limits.get(), ctx.defaults);
  } catch (e) {
    if (e instanceof ValidationError) return replyPrivately(i, `I can't paint that: ${e.userMessage}`);
    throw e;
  }
  const request = built.request;
  await queueNewJob(i, ctx, request, { afterTranscript: Boolean(clip), logAs: 'paint this: queued', logFields: { user: i.user.id, voice: Boolean(clip), message: target.id } });
}

export const paintThis: MessageCommand = {
  kind: 'message',
  name: PAINT_THIS,
  definition: () => ({ name: PAINT_THIS, type: ApplicationCommandType.Message, contexts: [InteractionContextType.Guild] }),
  execute: executePaintThis,
};
