/**
 * `npm start`: load the configuration, make sure the weights are there, start the bot.
 * Anything a person can fix (a missing variable, missing weights) ends the process with exit code 1
 * and a precise message on stderr, never a stack trace.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { checkModels, DEFAULT_CLIP_FOLDER, DEFAULT_VQGAN_FOLDER } from './model-files/layout.ts';
import { EXIT_FAILED, EXIT_STORE_DAMAGED, EXIT_STORE_IN_USE } from './exit-codes.ts';
import { LeaseHeldError, StoreUnusableError } from './jobs/errors.ts';

/** What src/bot/start.ts exports (written alongside the Discord code). */
interface BotModule {
  startBot(config: Config, deps: { commands: readonly unknown[] }): Promise<unknown>;
}

function fail(lines: string | string[], code = 1): never {
  process.stderr.write(`${([] as string[]).concat(lines).join('\n')}\n`);
  process.exit(code);
}

/** The exit code and one line for an error that ends the start, or undefined for an unexpected one. */
export function startErrorLine(err: unknown): { code: number; line: string } | undefined {
  if (err instanceof StoreUnusableError) return { code: EXIT_STORE_DAMAGED, line: err.line };
  if (err instanceof LeaseHeldError) return { code: EXIT_STORE_IN_USE, line: `Not starting: ${err.message}.` };
  return undefined;
}

function rel(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r && !r.startsWith('..') && !path.isAbsolute(r) ? `./${r}` : p;
}

/** The one line printed for a configuration error. */
export function configErrorMessage(err: ConfigError): string {
  const hint = err.variables.includes('DISCORD_TOKEN') ? ' (set it in .env: `cp .env.example .env`, see README "Discord application setup")' : ' (see .env.example)';
  return `Configuration error: ${err.message}${hint}`;
}

export async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(configErrorMessage(err));
    throw err;
  }

  // distributed mode (REDIS_URL) without DEVICES: the front paints nothing, so it needs no weights
  const frontOnly = !!process.env.REDIS_URL?.trim() && !process.env.DEVICES?.trim();
  const problems = frontOnly ? [] : checkModels(config.modelsDir, { clip: config.clipModel, vqgan: config.vqganModel });
  if (problems.length > 0) {
    const folderVars = [
      config.clipModel !== DEFAULT_CLIP_FOLDER ? `CLIP_MODEL=${config.clipModel}` : '',
      config.vqganModel !== DEFAULT_VQGAN_FOLDER ? `VQGAN_MODEL=${config.vqganModel}` : '',
    ].filter(Boolean).join(', ');
    fail([
      `Model weights missing in MODELS_DIR=${rel(config.modelsDir)}${folderVars ? ` (${folderVars})` : ''}:`,
      ...problems.map((p) => `  - ${p.message}`),
      'Run `npm run models:pull` to download them (about 1.6 GB), or put the files there by hand (see models/README.md),',
      'or set MODELS_DIR in .env to the folder that already has them.',
    ]);
  }

  const { initLogger } = await import('./log.ts');
  const { redisSecrets } = await import('./jobs/redis/secrets.ts');
  const log = initLogger({ level: config.logLevel, secrets: [config.discordToken, ...redisSecrets()] });
  log.info({ devices: config.devices.map((d) => d.name), modelsDir: config.modelsDir, apiUrl: config.discordApiUrl }, 'starting Reverie');

  const botModule = new URL('./bot/start.ts', import.meta.url).href;
  let bot: BotModule;
  try {
    bot = (await import(botModule)) as BotModule;
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${fileURLToPath(botModule)}'`);
    if (missing) {
      fail('The Discord bot module src/bot/start.ts is not in this checkout yet; nothing to start.');
    }
    throw err;
  }
  const { COMMANDS } = await import('./commands/index.ts');
  try {
    await bot.startBot(config, { commands: COMMANDS });
  } catch (err) {
    const known = startErrorLine(err);
    if (!known) throw err;
    log.error({ reason: err instanceof StoreUnusableError ? err.reason : 'lease' }, known.line);
    fail(known.line, known.code);
  }
}

/** main() with the last word on errors: one line on stderr and an exit code, never a stack trace there. */
export async function runMain(): Promise<void> {
  await main().catch(async (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    await import('./log.ts')
      .then(({ getLogger }) => getLogger().fatal({ err }, 'Reverie stopped'))
      .catch(() => undefined);
    process.stderr.write(`Reverie stopped: ${msg.split('\n')[0]}\n`);
    process.exit(EXIT_FAILED);
  });
}

const isEntry = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) void runMain();
