/**
 * npm run register [-- --global] [-- --guild ID] [-- --dry-run]
 *
 * Registers the slash commands (/imagine, /queue, /reverie) with Discord by bulk overwrite, through the
 * REST base in DISCORD_API_URL: to the server in DISCORD_GUILD_ID when set (instant, for development
 * and single-community bots), else globally (can take up to an hour to show up everywhere).
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import type { RegisterResult } from '../bot/register.ts';
import { CliError, formatOptions, parseArgs, runCli, UsageError } from './args.ts';

const SPEC = {
  global: { type: 'boolean', help: 'register globally even when DISCORD_GUILD_ID is set' },
  guild: { type: 'string', valueName: 'ID', help: 'register to this server (overrides DISCORD_GUILD_ID)' },
  'dry-run': { type: 'boolean', help: 'print the command definitions as JSON and send nothing' },
} as const;

const USAGE = `Usage: npm run register [-- --global] [-- --guild ID] [-- --dry-run]

Registers /imagine, /queue and /reverie. Guild commands (DISCORD_GUILD_ID) appear at once; global
ones can take up to an hour. Needs DISCORD_TOKEN (and DISCORD_APP_ID unless the token reveals it).

${formatOptions(SPEC)}`;

/** Bulk-overwrites the commands for the guild or globally; returns what Discord now has. */
export async function registerCommands(config: Config, opts: { global?: boolean; guildId?: string } = {}): Promise<RegisterResult> {
  const { commandDefinitions } = await import('../commands/index.ts');
  const { putCommands, RegisterError } = await import('../bot/register.ts');
  try {
    return await putCommands(config, commandDefinitions(config), opts);
  } catch (err) {
    if (err instanceof RegisterError) throw new CliError(err.message);
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, help } = parseArgs(argv, SPEC);
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.global && values.guild) throw new UsageError('give either --global or --guild, not both');
  if (values.guild !== undefined && !/^\d{17,20}$/.test(values.guild)) throw new UsageError(`--guild expects a server id (17–20 digits), got "${values.guild}"`);
  let config: Config;
  try {
    config = loadConfig(process.env, { requireToken: !values['dry-run'] }) as Config;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`${err.message} (see .env.example)`);
    throw err;
  }
  if (values['dry-run']) {
    const { commandDefinitions } = await import('../commands/index.ts');
    process.stdout.write(`${JSON.stringify(commandDefinitions(config), null, 2)}\n`);
    return 0;
  }
  const r = await registerCommands(config, { global: values.global, guildId: values.guild });
  const where = r.scope === 'guild' ? `server ${r.guildId} (available now)` : 'all servers (global; may take up to an hour to appear)';
  process.stdout.write(`Registered ${r.names.map((n) => (r.menus.includes(n) ? `Apps → ${n}` : `/${n}`)).join(', ')} in ${where}.\n`);
  return 0;
}

const isEntry = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) runCli('register', main);
