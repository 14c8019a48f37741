/**
 * Online backups of the SQLite job store (better-sqlite3's backup API, safe while the bot runs) into
 * <dataDir>/backups/reverie-YYYYMMDD-HHMMSS.db, the newest BACKUP_KEEP kept; and the restore that
 * `npm run restore` runs: the chosen backup is checked, the current file (and its -wal/-shm) is moved
 * aside, never deleted, and the backup copied into place.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { BACKUPS_DIR, listBackups, shownPath } from './store-check.ts';
import os from 'node:os';
import { leaseIsLive, readLease, type Lease } from './store-lease.ts';

export { listBackups } from './store-check.ts';

export interface Backupable {
  backupTo(file: string): Promise<void>;
}

function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Writes one backup (to a temp name, then renamed) and prunes to the newest `keep`. Returns its path. */
export async function backupNow(store: Backupable, dataDir: string, keep: number, now = new Date()): Promise<string> {
  const dir = path.join(dataDir, BACKUPS_DIR);
  fs.mkdirSync(dir, { recursive: true });
  let file = path.join(dir, `reverie-${stamp(now)}.db`);
  for (let i = 1; fs.existsSync(file); i++) file = path.join(dir, `reverie-${stamp(now)}-${i}.db`);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await store.backupTo(tmp);
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  for (const old of listBackups(dataDir).slice(Math.max(1, keep))) fs.rmSync(old.file, { force: true });
  return file;
}

/** A backup after `firstDelayMs` and then every `everyMs`; stop() ends the schedule and waits for a backup under way. */
export function scheduleBackups(
  store: Backupable & { readonly isOpen: boolean },
  opts: { dataDir: string; everyMs: number; keep: number; firstDelayMs?: number; log: Logger },
): { stop(): Promise<void> } {
  let current: Promise<void> | undefined;
  let stopped = false;
  const run = (): void => {
    if (current || stopped || !store.isOpen) return;
    current = backupNow(store, opts.dataDir, opts.keep)
      .then((file) => opts.log.info({ file }, 'job store backed up'))
      .catch((err: unknown) => opts.log.error({ err }, 'job store backup failed'))
      .finally(() => (current = undefined));
  };
  const first = setTimeout(run, opts.firstDelayMs ?? 0);
  const timer = setInterval(run, opts.everyMs);
  first.unref();
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await current;
    },
  };
}

export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

/** quick_check of a backup file and its number of jobs; throws RestoreError when it is not a good store. */
export function inspectBackup(file: string): { jobs: number } {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const ok = db.pragma('quick_check', { simple: true });
    if (ok !== 'ok') throw new RestoreError(`${path.basename(file)} fails its check (${String(ok)})`);
    const n = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM jobs').get()!.n;
    return { jobs: n };
  } catch (e) {
    if (e instanceof RestoreError) throw e;
    throw new RestoreError(`${path.basename(file)} is not a usable job store (${(e as Error).message.split('\n')[0]})`);
  } finally {
    db?.close();
  }
}

/** The live lease of another process on the current store file, if it can be read. */
export function liveLeaseOn(dbFile: string, staleMs: number): Lease | undefined {
  if (!fs.existsSync(dbFile)) return undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(dbFile, { readonly: true, fileMustExist: true, timeout: 2000 });
    const l = readLease(db);
    return l && leaseIsLive(l, Date.now(), staleMs, { token: '', host: os.hostname(), pid: -1 }) ? l : undefined;
  } catch {
    return undefined; // a damaged store has no bot behind it that could use it
  } finally {
    try {
      db?.close();
    } catch {
      /* ignore */
    }
  }
}

export interface RestoreResult {
  from: string;
  jobs: number;
  /** where the file that was there went (undefined when there was none) */
  movedAside?: string;
}

/** Puts a backup (by name, or the newest) in place of dbFile. Throws RestoreError with a sentence. */
export function restoreBackup(dbFile: string, dataDir: string, name?: string, now = new Date()): RestoreResult {
  const all = listBackups(dataDir);
  if (!all.length) throw new RestoreError(`there are no backups in ${shownPath(path.join(dataDir, BACKUPS_DIR))}`);
  const pick = name ? all.find((b) => b.name === name || b.file === path.resolve(name)) : all[0];
  if (!pick) throw new RestoreError(`no backup called ${name} in ${shownPath(path.join(dataDir, BACKUPS_DIR))} (\`npm run restore -- --list\` lists them)`);
  const { jobs } = inspectBackup(pick.file);
  let movedAside: string | undefined;
  const aside = `${dbFile}.before-restore-${stamp(now)}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (!fs.existsSync(dbFile + suffix)) continue;
    fs.renameSync(dbFile + suffix, aside + suffix);
    if (!suffix) movedAside = aside;
  }
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const tmp = `${dbFile}.restore-${process.pid}`;
  fs.copyFileSync(pick.file, tmp);
  fs.renameSync(tmp, dbFile);
  return { from: pick.file, jobs, ...(movedAside ? { movedAside } : {}) };
}
