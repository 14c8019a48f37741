/**
 * Structured logs (pino, JSON lines). Every line passes through scrubLogText before it is written, so
 * neither the bot token, nor interaction/webhook tokens, nor attachment URLs with their (signed) query
 * strings ever reach the log, whatever object or message carried them.
 *
 *   import { initLogger, getLogger } from './log.ts';
 *   initLogger({ level: config.logLevel, secrets: [config.discordToken] });   // once, in main
 *   const log = getLogger().child({ mod: 'presenter' });
 *   log.info({ jobId }, 'job started');
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export const REDACTED = '[redacted]';

/** Object keys whose values are always replaced (at any of the first three levels). */
const REDACT_KEYS = ['token', 'discordToken', 'authorization', 'Authorization', 'password', 'secret'];
const REDACT_PATHS = REDACT_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

const PATTERNS: [RegExp, string][] = [
  // Discord bot tokens: <base64 user id>.<timestamp>.<hmac>
  [/[A-Za-z\d_-]{20,}\.[A-Za-z\d_-]{6,7}\.[A-Za-z\d_-]{27,}/g, REDACTED],
  // Authorization header values
  [/\b(Bot|Bearer) [A-Za-z\d_.\-=]{10,}/g, `$1 ${REDACTED}`],
  // Interaction and webhook tokens inside REST routes
  [/(\/webhooks\/\d+\/)[A-Za-z\d_.\-]{20,}/g, `$1${REDACTED}`],
  [/(\/interactions\/\d+\/)[A-Za-z\d_.\-]{20,}/g, `$1${REDACTED}`],
  // Attachment / CDN URLs: keep the path, drop the signed query string
  [/((?:https?:\/\/(?:[\w-]+\.)*(?:discordapp\.com|discordapp\.net|discord\.com|discord\.gg)|\/attachments)\/[^\s"'?#\\]*)\?[^\s"'#\\]*/g, '$1'],
];

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Removes secrets from one serialized log line (or any text). Keeps JSON valid. */
export function scrubLogText(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 8) out = out.replace(new RegExp(escapeRegExp(s), 'g'), REDACTED);
  }
  for (const [re, rep] of PATTERNS) out = out.replace(re, rep);
  return out;
}

export interface LoggerOptions {
  level?: string;
  /** Exact strings never to log (the bot token). */
  secrets?: readonly string[];
  /** Where lines go; default stdout (synchronous, so nothing is lost on exit). */
  destination?: DestinationStream;
  /** Fields on every line (e.g. { service: 'reverie' }). */
  base?: Record<string, unknown>;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const secrets = [...(opts.secrets ?? [])];
  return pino(
    {
      level: opts.level ?? 'info',
      base: opts.base ?? { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: (s: string) => scrubLogText(s, secrets) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

let root: Logger | undefined;

/** Sets the process-wide logger (main calls this once, with the token as a secret). */
export function initLogger(opts: LoggerOptions = {}): Logger {
  root = createLogger(opts);
  return root;
}

/** The process-wide logger; before initLogger, one at LOG_LEVEL (default info) on stdout. */
export function getLogger(): Logger {
  root ??= createLogger({
    level: process.env.LOG_LEVEL || 'info',
    secrets: process.env.DISCORD_TOKEN ? [process.env.DISCORD_TOKEN] : [],
  });
  return root;
}
