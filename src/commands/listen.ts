/**
 * What "Paint this" and /imagine voice: share once the interaction is deferred: hear the clip, answer
 * privately when it cannot be used (too long, not audio, silence, nothing to paint), otherwise show
 * "🎙️ heard: “…”" in the reply and give back the prompt. The job then gets its own message
 * (`postJobMessage`), so the transcript stays visible above it.
 */
import type { ChatInputCommandInteraction, MessageContextMenuCommandInteraction } from 'discord.js';
import type { AttachmentInfo, AttachmentPolicy } from '../bot/attachments.ts';
import type { BotContext } from '../bot/context.ts';
import { toDiscordPayload, type MessageRef, type OutgoingMessage } from '../bot/discord-port.ts';
import { replyPrivately } from '../bot/interaction.ts';
import { hearAttachment, heardLine, VoiceError } from '../bot/voice.ts';

type Deferred = ChatInputCommandInteraction | MessageContextMenuCommandInteraction;

/** The prompt in the clip, or undefined once the member has been told why there is none. */
export async function listen(i: Deferred, ctx: BotContext, clip: AttachmentInfo, policy: AttachmentPolicy): Promise<string | undefined> {
  let heard;
  try {
    heard = await hearAttachment(ctx, i.user.id, clip, policy);
  } catch (e) {
    if (e instanceof VoiceError) {
      await replyPrivately(i, e.userMessage);
      return undefined;
    }
    throw e;
  }
  ctx.log.info({ user: i.user.id, ok: heard.ok, seconds: heard.result.audioSeconds, ms: Math.round(heard.result.ms), device: heard.result.device }, 'voice: transcribed');
  if (!heard.ok) {
    await replyPrivately(i, heard.userMessage);
    return undefined;
  }
  await i.editReply({ content: heardLine(heard.heard), allowedMentions: { parse: [] } });
  return heard.prompt;
}

/** Posts the job's message as a follow-up under the "heard" reply. */
export async function postJobMessage(i: Deferred, msg: OutgoingMessage): Promise<MessageRef> {
  const m = await i.followUp(toDiscordPayload(msg));
  return { channelId: m.channelId, messageId: m.id };
}
