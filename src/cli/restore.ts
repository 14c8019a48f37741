/**
 * `npm run restore` (or `node bin/reverie restore`): puts a job store backup back.
 *
 *   npm run restore                     restore the newest backup in DATA_DIR/backups
 *   npm run restore -- NAME             restore that one (a name from --list, or a path)
 *   npm run restore -- --list           list the backups, newest first
 *
 * Refuses while a bot holds the store's lease (stop it first). The file that was at DB_PATH (and its
 * -wal/-shm) is moved aside as <DB_PATH>.before-restore-<time>, never deleted. Exit codes: 0 done,
 * 1 configuration error, 2 usage or nothing to restore, 4 a bot is using the store.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../config.ts';
import { EXIT_STORE_IN_USE } from '../exit-codes.ts';
import { listBackups, liveLeaseOn, restoreBackup, RestoreError } from '../jobs/backups.ts';
import { shownPath } from '../jobs/store-check.ts';
import { DEFAULT_LEASE_STALE_MS } from '../jobs/store-lease.ts';

const USAGE = 'usage: npm run restore [-- --list | -- BACKUP]   (BACKUP: a name from --list; default the newest)';

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

export async function runRestore(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s + '\n'), err: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(USAGE);
    return 0;
  }
  const list = argv.includes('--list');
  const names = argv.filter((a) => !a.startsWith('-'));
  if (names.length > 1 || argv.some((a) => a.startsWith('-') && a !== '--list')) {
    err(USAGE);
    return 2;
  }
  let config;
  try {
    config = loadConfig(process.env, { requireToken: false });
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`Configuration error: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const backups = listBackups(config.dataDir);
  if (list) {
    if (!backups.length) out(`No backups in ${shownPath(path.join(config.dataDir, 'backups'))}.`);
    for (const b of backups) out(`${b.name}  ${mib(b.size)}  ${new Date(b.mtimeMs).toISOString()}`);
    return 0;
  }
  const holder = liveLeaseOn(config.dbPath, DEFAULT_LEASE_STALE_MS);
  if (holder) {
    err(`Not restoring: another Reverie (pid ${holder.pid} on ${holder.host}) is using DB_PATH=${shownPath(config.dbPath)}; stop it first.`);
    return EXIT_STORE_IN_USE;
  }
  try {
    const r = restoreBackup(config.dbPath, config.dataDir, names[0]);
    out(
      `Restored DB_PATH=${shownPath(config.dbPath)} from ${path.basename(r.from)} (${r.jobs} job${r.jobs === 1 ? '' : 's'})` +
        (r.movedAside ? `; the file that was there is kept as ${shownPath(r.movedAside)}` : '') +
        '. Start the bot again.',
    );
    return 0;
  } catch (e) {
    if (e instanceof RestoreError) {
      err(`Not restored: ${e.message}.`);
      return 2;
    }
    throw e;
  }
}

const isEntry = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) process.exitCode = await runRestore(process.argv.slice(2));
