/**
 * A 🔁 reaction by a member on a finished job's message re-rolls it under that member's name: a new
 * job with the same settings and a new seed, whose message replies to the original.
 */
import type { MessageReaction, PartialMessageReaction, PartialUser, User } from 'discord.js';
import type { BotContext } from './context.ts';
import { EMOJI } from './format.ts';
import { queueAndPresent } from './queue-job.ts';

export async function handleReaction(
  reaction: MessageReaction | PartialMessageReaction,
  rawUser: User | PartialUser,
  ctx: BotContext,
  botUserId: string | undefined,
): Promise<void> {
  if (rawUser.id === botUserId || reaction.emoji.name !== EMOJI.reroll) return;
  const messageId = reaction.message.id;
  const parent = ctx.store.findByMessageId(messageId);
  if (!parent || parent.discord.messageId !== messageId || parent.state !== 'done') return;
  const user = rawUser.partial ? await rawUser.fetch() : rawUser;
  if (user.bot) return;
  const channelId = reaction.message.channelId;
  const guildId = reaction.message.guildId;
  const member = reaction.message.guild?.members.cache.get(user.id);
  const userName = member?.displayName ?? user.globalName ?? user.username;
  await queueAndPresent(ctx, {
    submit: () => ctx.scheduler.reroll(parent.id, undefined, user.id, { userName, discord: { guildId, channelId } }),
    // no private channel for a reaction: a short reply that cleans itself up
    async refused(e) {
      const note = await ctx.port.sendMessage(channelId, { content: `<@${user.id}> ${e.userMessage}`, replyTo: messageId }).catch(() => undefined);
      if (note) setTimeout(() => void ctx.port.deleteMessage(note).catch(() => undefined), 15_000).unref();
    },
    logAs: 'reaction re-roll: queued',
    logFields: { parent: parent.id, user: user.id },
    post: (msg) => ctx.port.sendMessage(channelId, { ...msg, replyTo: messageId }),
  });
}
