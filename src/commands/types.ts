import { MessageFlags, type ChatInputCommandInteraction, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';
import type { Config } from '../config.ts';
import type { BotContext } from '../bot/context.ts';

/** One slash command: its definition (built from the config, for registration) and its handler. */
export interface Command {
  name: string;
  definition(config: Config): RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void>;
}

/** An ephemeral (flags 64) answer, whether or not the interaction was deferred already. */
export async function replyPrivately(interaction: ChatInputCommandInteraction | import('discord.js').ButtonInteraction, content: string): Promise<void> {
  const payload = { content: content.slice(0, 2000), flags: MessageFlags.Ephemeral as const, allowedMentions: { parse: [] } };
  if (interaction.deferred || interaction.replied) {
    if (interaction.isChatInputCommand() && interaction.deferred && !interaction.ephemeral && !interaction.replied) {
      // a public "thinking…" placeholder: remove it, then answer privately
      await interaction.deleteReply().catch(() => undefined);
    }
    await interaction.followUp(payload);
  } else {
    await interaction.reply(payload);
  }
}
