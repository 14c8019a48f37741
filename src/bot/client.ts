/**
 * The discord.js client and the routing of gateway events to commands, buttons and reactions.
 */
import { Client, Events, GatewayIntentBits, Partials, type ClientOptions, type Interaction } from 'discord.js';
import type { Config } from '../config.ts';
import { handleButton } from './buttons.ts';
import type { BotContext } from './context.ts';
import { errorSummary } from './discord-port.ts';
import { replyPrivately, type AnyCommand, type Command, type MessageCommand } from './interaction.ts';
import { handleReaction } from './reactions.ts';

/**
 * Intents: Guilds (channels, threads, interactions) and GuildMessageReactions (🔁 re-rolls); no
 * privileged intents. Partials so reactions on messages sent before a restart still arrive.
 */
export function createClient(config: Pick<Config, 'discordApiUrl'>, overrides: Partial<ClientOptions> = {}): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessageReactions],
    partials: [Partials.Message, Partials.Reaction, Partials.User, Partials.Channel],
    allowedMentions: { parse: [] },
    ...overrides,
    rest: { api: config.discordApiUrl, ...overrides.rest },
  });
}

export function wireHandlers(client: Client, ctx: BotContext, commands: readonly AnyCommand[]): void {
  const byName = new Map(commands.filter((c): c is Command => !('kind' in c)).map((c) => [c.name, c]));
  const onMessage = new Map(commands.filter((c): c is MessageCommand => 'kind' in c && c.kind === 'message').map((c) => [c.name, c]));
  const log = ctx.log;

  const onInteraction = async (i: Interaction): Promise<void> => {
    if (i.isChatInputCommand()) {
      const cmd = byName.get(i.commandName);
      if (!cmd) return replyPrivately(i, `I don't know the command /${i.commandName}. It may be from an older version of the bot.`);
      log.debug({ command: i.commandName, user: i.user.id, interaction: i.id }, 'command');
      return cmd.execute(i, ctx);
    }
    if (i.isMessageContextMenuCommand()) {
      const cmd = onMessage.get(i.commandName);
      if (!cmd) return replyPrivately(i, `I don't know the command “${i.commandName}”. It may be from an older version of the bot.`);
      log.debug({ command: i.commandName, user: i.user.id, interaction: i.id, message: i.targetId }, 'message command');
      return cmd.execute(i, ctx);
    }
    if (i.isButton()) return handleButton(i, ctx);
  };

  client.on(Events.InteractionCreate, (i) => {
    onInteraction(i).catch(async (err: unknown) => {
      log.error({ err: errorSummary(err), interaction: i.id, kind: i.type }, 'interaction handler failed');
      if (i.isRepliable()) {
        await replyPrivately(i as Parameters<typeof replyPrivately>[0], 'Something went wrong on my side while handling that. Please try again in a moment.').catch(() => undefined);
      }
    });
  });

  client.on(Events.MessageReactionAdd, (reaction, user) => {
    handleReaction(reaction, user, ctx, client.user?.id).catch((err: unknown) => log.error({ err: errorSummary(err), message: reaction.message.id }, 'reaction handler failed'));
  });

  client.on(Events.Error, (err) => log.error({ err: errorSummary(err) }, 'discord client error'));
  client.on(Events.Warn, (msg) => log.warn({ msg }, 'discord client warning'));
  client.rest.on('rateLimited', (info) => {
    ctx.metrics.rateLimited++;
    log.warn({ route: info.route, retryAfter: info.retryAfter, global: info.global, scope: info.scope }, 'Discord rate limit hit; discord.js waits and retries');
  });
}
