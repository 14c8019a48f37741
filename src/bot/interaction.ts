/**
 * What slash commands, buttons and reactions share: the command shape, private replies, who a member is
 * called and who may manage a job.
 */
import {
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type MessageContextMenuCommandInteraction,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  type RESTPostAPIContextMenuApplicationCommandsJSONBody,
} from 'discord.js';
import type { Config } from '../config.ts';
import type { JobRecord } from '../jobs/types.ts';
import type { BotContext } from './context.ts';
import { cutText } from './format.ts';

/** One slash command: its definition (built from the config, for registration) and its handler. */
export interface Command {
  name: string;
  definition(config: Config): RESTPostAPIChatInputApplicationCommandsJSONBody;
  execute(interaction: ChatInputCommandInteraction, ctx: BotContext): Promise<void>;
}

/** A message context-menu command (Apps → name on a message). */
export interface MessageCommand {
  kind: 'message';
  name: string;
  definition(config: Config): RESTPostAPIContextMenuApplicationCommandsJSONBody;
  execute(interaction: MessageContextMenuCommandInteraction, ctx: BotContext): Promise<void>;
}

export type AnyCommand = Command | MessageCommand;

/** An ephemeral (flags 64) answer, whether or not the interaction was deferred already. */
export async function replyPrivately(interaction: ChatInputCommandInteraction | MessageContextMenuCommandInteraction | ButtonInteraction, content: string): Promise<void> {
  const payload = { content: cutText(content, 2000), flags: MessageFlags.Ephemeral as const, allowedMentions: { parse: [] } };
  if (interaction.deferred || interaction.replied) {
    if ((interaction.isChatInputCommand() || interaction.isMessageContextMenuCommand()) && interaction.deferred && !interaction.ephemeral && !interaction.replied) {
      // a public "thinking…" placeholder: remove it, then answer privately
      await interaction.deleteReply().catch(() => undefined);
    }
    await interaction.followUp(payload);
  } else {
    await interaction.reply(payload);
  }
}

export function displayName(i: { member?: unknown; user: { username: string; globalName?: string | null } }): string {
  const m = i.member as { displayName?: string; nick?: string | null } | null | undefined;
  return m?.displayName ?? m?.nick ?? i.user.globalName ?? i.user.username;
}

/** The requester, or members with Manage Messages. */
export function canManage(job: JobRecord, userId: string, permissions: { has(p: bigint): boolean } | null | undefined): boolean {
  return job.userId === userId || Boolean(permissions?.has(PermissionFlagsBits.ManageMessages));
}
