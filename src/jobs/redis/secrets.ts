/** The parts of REDIS_URL that must never reach a log line: the whole URL and its password. */
export function redisSecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const url = env.REDIS_URL?.trim();
  if (!url) return [];
  let pw = '';
  try {
    pw = decodeURIComponent(new URL(url).password);
  } catch {
    /* not a URL: the whole value is the secret */
  }
  return [url, pw].filter((s) => s.length >= 8);
}
