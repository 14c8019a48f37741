/**
 * Registering the slash commands with Discord (a bulk overwrite through DISCORD_API_URL): explicitly by
 * `npm run register`, and at start when the definitions differ from the last ones registered, so a fresh
 * install or an upgrade needs no extra step. The last registration is remembered as a hash in the store.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import type { AnyCommand } from './interaction.ts';

export interface RegisterResult {
  scope: 'guild' | 'global';
  guildId?: string;
  names: string[];
  /** those of names that are message context-menu commands (Apps → name) */
  menus: string[];
}

export class RegisterError extends Error {
  override name = 'RegisterError';
}

/** Bulk-overwrites the given definitions for the guild or globally; returns what Discord now has. */
export async function putCommands(config: Config, body: unknown[], opts: { global?: boolean; guildId?: string; appId?: string } = {}): Promise<RegisterResult> {
  const appId = opts.appId ?? config.discordAppId;
  if (!appId) throw new RegisterError('DISCORD_APP_ID is not set and the token does not reveal the application id: set DISCORD_APP_ID in .env');
  const guildId = opts.global ? undefined : (opts.guildId ?? config.discordGuildId);
  // loaded here: the register CLI answers usage errors and --help without loading discord.js
  const { REST, Routes } = await import('discord.js');
  const rest = new REST({ api: config.discordApiUrl }).setToken(config.discordToken);
  const route = guildId ? Routes.applicationGuildCommands(appId, guildId) : Routes.applicationCommands(appId);
  let res: unknown;
  try {
    res = await rest.put(route, { body });
  } catch (err) {
    const status = (err as { status?: number }).status;
    const hint =
      status === 401 ? ' (is DISCORD_TOKEN right?)' : status === 403 ? ' (is the bot in that server, invited with the applications.commands scope?)' : status === 404 ? ' (check DISCORD_APP_ID and DISCORD_GUILD_ID)' : '';
    throw new RegisterError(`Discord refused the commands: ${(err as Error).message}${hint}`);
  }
  const list = Array.isArray(res) ? (res as { name: string; type?: number }[]) : [];
  const names = list.map((c) => c.name);
  const menus = list.filter((c) => c.type === 3).map((c) => c.name);
  return { scope: guildId ? 'guild' : 'global', ...(guildId ? { guildId } : {}), names, menus };
}

const HASH_KEY = 'commands.registered';

/** What identifies one registration: where it goes and exactly what it says. */
export function registrationHash(config: Config, body: unknown[], appId: string | undefined): string {
  const where = { appId, guildId: config.discordGuildId ?? null, api: config.discordApiUrl };
  return createHash('sha256').update(JSON.stringify({ where, body })).digest('hex');
}

/**
 * Registers the commands when their definitions (or where they go) changed since the last registration
 * this store remembers. A refusal is logged, not fatal: the bot still serves the commands Discord has.
 */
export async function registerIfChanged(
  config: Config,
  commands: readonly AnyCommand[],
  store: JobStoreApi,
  log: Logger,
  appId = config.discordAppId,
): Promise<'registered' | 'unchanged' | 'failed'> {
  const body = commands.map((c) => c.definition(config));
  const hash = registrationHash(config, body, appId);
  if (store.getSetting<string>(HASH_KEY) === hash) return 'unchanged';
  try {
    const r = await putCommands(config, body, { ...(appId ? { appId } : {}) });
    store.setSetting(HASH_KEY, hash);
    log.info({ scope: r.scope, commands: r.names }, 'registered the slash commands (their definitions changed)');
    return 'registered';
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not register the slash commands at start; run `npm run register` once the cause is fixed');
    return 'failed';
  }
}
