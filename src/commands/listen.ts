/**
 * What "Paint this" and /imagine voice: share once the interaction is deferred: hear the clip, answer
 * privately when it cannot be used (too long, not audio, silence, nothing to paint), otherwise show
 * "🎙️ heard: “…”" in the reply and give back the prompt. The job then gets its own message
 * (`queueNewJob`), so the transcript stays visible above it.
 */
import type { ChatInputCommandInteraction, MessageContextMenuCommandInteraction } from 'discord.js';
import type { AttachmentInfo, AttachmentPolicy } from '../bot/attachments.ts';
import type { BotContext } from '../bot/context.ts';
import { toDiscordPayload } from '../bot/discord-port.ts';
import { displayName, replyPrivately } from '../bot/interaction.ts';
import { queueAndPresent } from '../bot/queue-job.ts';
import type { GenerationRequest } from '../jobs/types.ts';
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

/**
 * Queues a new job for the member who ran the command and shows it: in the deferred reply, or, after a
 * voice prompt whose reply holds the transcript, in a follow-up under it. The job id, or undefined when
 * it was refused (and the member told).
 */
export function queueNewJob(
  i: Deferred,
  ctx: BotContext,
  request: GenerationRequest,
  o: { afterTranscript: boolean; logAs: string; logFields: Record<string, unknown> },
): Promise<string | undefined> {
  return queueAndPresent(ctx, {
    submit: () =>
      ctx.scheduler.submit({
        userId: i.user.id,
        userName: displayName(i),
        guildId: i.guildId,
        discord: { guildId: i.guildId, channelId: i.channelId },
        request,
      }),
    refused: (e) => replyPrivately(i, e.userMessage),
    logAs: o.logAs,
    logFields: o.logFields,
    post: async (msg) => {
      const m = o.afterTranscript ? await i.followUp(toDiscordPayload(msg)) : await i.editReply(toDiscordPayload(msg));
      return { channelId: m.channelId, messageId: m.id };
    },
  });
}
