/**
 * A 🔁 reaction by a member on a finished job's message re-rolls it under that member's name: a new
 * job with the same settings and a new seed, whose message replies to the original.
 */
import type { MessageReaction, PartialMessageReaction, PartialUser, User } from 'discord.js';
import { JobRefusedError } from '../jobs/errors.ts';
import type { BotContext } from './context.ts';
import { EMOJI } from './format.ts';

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
  let jobId: string;
  try {
    const entry = ctx.presenter.submitting(() =>
      ctx.scheduler.reroll(parent.id, undefined, user.id, { userName, discord: { guildId, channelId } }),
    );
    jobId = entry.job.id;
  } catch (e) {
    if (!(e instanceof JobRefusedError)) throw e;
    // no private channel for a reaction: a short reply that cleans itself up
    const note = await ctx.port.sendMessage(channelId, { content: `<@${user.id}> ${e.userMessage}`, replyTo: messageId }).catch(() => undefined);
    if (note) setTimeout(() => void ctx.port.deleteMessage(note).catch(() => undefined), 15_000).unref();
    return;
  }
  ctx.log.info({ job: jobId, parent: parent.id, user: user.id }, 'reaction re-roll: queued');
  await ctx.presenter.bind(jobId, (msg) => ctx.port.sendMessage(channelId, { ...msg, replyTo: messageId }));
}
