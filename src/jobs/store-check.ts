/**
 * What the store checks when it opens, so that it never loses jobs silently:
 * - a file that is not a database, or fails `PRAGMA quick_check` → refused (damaged);
 * - a file with no schema (0 bytes, or emptied) while the data folder holds jobs or backups of an
 *   earlier store → refused, never re-created over them (a missing file starts a new store: that is
 *   what "move the file aside" means);
 * - a schema newer than this code → refused.
 * Each refusal is a StoreUnusableError whose `line` names the file, what is wrong and what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { StoreUnusableError } from './errors.ts';

export const BACKUPS_DIR = 'backups';
export const BACKUP_RE = /^reverie-\d{8}-\d{6}(-\d+)?\.db$/;

/** reverie-YYYYMMDD-HHMMSS[-n].db → a key that sorts by time, then n. */
function order(name: string): string {
  const m = /^reverie-(\d{8}-\d{6})(?:-(\d+))?\.db$/.exec(name)!;
  return `${m[1]}-${(m[2] ?? '0').padStart(6, '0')}`;
}

/** Backup files in <dataDir>/backups, newest first. */
export function listBackups(dataDir: string): { name: string; file: string; size: number; mtimeMs: number }[] {
  const dir = path.join(dataDir, BACKUPS_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => BACKUP_RE.test(n))
    .map((name) => {
      const file = path.join(dir, name);
      const st = fs.statSync(file);
      return { name, file, size: st.size, mtimeMs: st.mtimeMs };
    })
    .sort((a, b) => (order(a.name) < order(b.name) ? 1 : order(a.name) > order(b.name) ? -1 : 0));
}

/** A path as the operator would type it: relative to the working directory when inside it. */
export function shownPath(p: string): string {
  const r = path.relative(process.cwd(), p);
  return r && !r.startsWith('..') && !path.isAbsolute(r) ? `./${r}` : p;
}

/** Is there anything in the data folder that says a store with jobs was here before? */
export function dataDirHoldsJobs(dataDir: string): boolean {
  try {
    if (fs.readdirSync(path.join(dataDir, 'jobs')).length > 0) return true;
  } catch {
    /* no jobs folder */
  }
  return listBackups(dataDir).length > 0;
}

/** What to do, in words, for a store that cannot be used. */
export function remedy(dbFile: string, dataDir: string): string {
  const newest = listBackups(dataDir)[0];
  const restore = newest ? `restore the newest backup (${newest.name}) with \`npm run restore\`` : 'restore a backup of it (none in DATA_DIR/backups)';
  return `${restore}, or move the file aside (mv ${shownPath(dbFile)} ${shownPath(dbFile)}.bad) to start with an empty store`;
}

function where(dbFile: string): string {
  return `DB_PATH=${shownPath(dbFile)}`;
}

const DAMAGE_CODES = /^SQLITE_(NOTADB|CORRUPT|IOERR_SHORT_READ|CANTOPEN)/;

/** Turns a SQLite error met while opening into a StoreUnusableError (others are returned as they are). */
export function asOpenError(e: unknown, dbFile: string, dataDir: string): unknown {
  const code = (e as { code?: string }).code ?? '';
  if (!DAMAGE_CODES.test(code)) return e;
  const what = (e as Error).message.split('\n')[0];
  return new StoreUnusableError('damaged', dbFile, `The job store ${where(dbFile)} is damaged (${what}): ${remedy(dbFile, dataDir)}.`);
}

/** PRAGMA quick_check; throws StoreUnusableError unless it says ok. */
export function quickCheck(db: Database.Database, dbFile: string, dataDir: string): void {
  let rows: { quick_check: string }[];
  try {
    rows = db.pragma('quick_check(5)') as { quick_check: string }[];
  } catch (e) {
    throw asOpenError(e, dbFile, dataDir);
  }
  if (rows.length === 1 && rows[0]!.quick_check === 'ok') return;
  const first = rows[0]?.quick_check ?? 'no answer';
  throw new StoreUnusableError('damaged', dbFile, `The job store ${where(dbFile)} is damaged (quick_check: ${first.split('\n')[0]}): ${remedy(dbFile, dataDir)}.`);
}

/**
 * Called inside the migration's IMMEDIATE transaction when the file has no schema yet: refuses when the
 * file existed before this open and the data folder has jobs or backups of an earlier store.
 */
export function refuseEmptyOverJobs(existed: boolean, size: number, dbFile: string, dataDir: string): void {
  if (!existed || !dataDirHoldsJobs(dataDir)) return;
  const what = size === 0 ? 'is empty (0 bytes)' : 'has no tables';
  throw new StoreUnusableError(
    'no-schema',
    dbFile,
    `The job store ${where(dbFile)} ${what}, but DATA_DIR=${shownPath(dataDir)} holds jobs of an earlier store, so I will not start a new one over them: ${remedy(dbFile, dataDir)}.`,
  );
}

export function refuseNewer(version: number, known: number, dbFile: string): never {
  throw new StoreUnusableError(
    'newer',
    dbFile,
    `The job store ${where(dbFile)} has schema version ${version}, newer than this Reverie knows (${known}): run the newer version, or restore a backup made by this one with \`npm run restore\`.`,
  );
}
