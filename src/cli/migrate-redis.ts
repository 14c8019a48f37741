/**
 * `npm run migrate:redis [-- --dry-run]`: moves an embedded install's queued and running jobs into
 * distributed mode (their checkpoints to Redis; running ones back to the queue). Stop the bot first.
 * Reads REDIS_URL, DATA_DIR and DB_PATH like the bot; then start the front with REDIS_URL set.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { openStore } from '../jobs/store.ts';
import { migrateToRedis } from '../jobs/redis/migrate.ts';
import { redactRedisUrl } from '../jobs/redis/protocol.ts';

const { values } = parseArgs({ options: { 'dry-run': { type: 'boolean', default: false } } });
const redisUrl = process.env.REDIS_URL?.trim();
if (!redisUrl) {
  process.stderr.write('REDIS_URL is not set: set it to the Redis the front and workers will share.\n');
  process.exit(1);
}
let config;
try {
  config = loadConfig(process.env, { requireToken: false });
} catch (e) {
  process.stderr.write(`Configuration error: ${e instanceof ConfigError ? e.message : String(e)}\n`);
  process.exit(1);
}
const store = openStore({ dataDir: config.dataDir, dbFile: config.dbPath });
try {
  const r = await migrateToRedis(store, redisUrl, { dryRun: values['dry-run'] });
  const verb = values['dry-run'] ? 'would move' : 'moved';
  process.stdout.write(
    `${verb} ${r.queued} queued and ${r.running} running job(s) to ${redactRedisUrl(redisUrl)} (${r.checkpoints} checkpoint(s) copied)\n` +
      r.problems.map((p) => `  job ${p.jobId}: ${p.error}\n`).join('') +
      (values['dry-run'] ? '' : 'Now start the front with REDIS_URL set (`npm start`) and one or more workers (`npm run worker`).\n'),
  );
  process.exitCode = r.problems.length ? 1 : 0;
} finally {
  store.close();
}
