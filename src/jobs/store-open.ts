/**
 * Opens the SQLite file of the job store with its checks (store-check.ts): quick_check, schema and
 * identity; WAL, busy timeout; migrations. Any refusal closes the connection and throws
 * StoreUnusableError.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { asOpenError, quickCheck, refuseEmptyOverJobs, refuseNewer } from './store-check.ts';
import { MIGRATIONS, migrate, retryBusy } from './store-schema.ts';

export function openChecked(dbFile: string, dataDir: string, busyTimeoutMs: number): Database.Database {
  let existed = false;
  let size = 0;
  try {
    size = fs.statSync(dbFile).size;
    existed = true;
  } catch {
    /* a new store */
  }
  // an emptied file is refused before anything is written to it
  if (existed && size === 0) refuseEmptyOverJobs(existed, size, dbFile, dataDir);
  const db = new Database(dbFile, { timeout: busyTimeoutMs });
  try {
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    if (existed && size > 0) quickCheck(db, dbFile, dataDir);
    retryBusy(() => db.pragma('journal_mode = WAL'));
    db.pragma('synchronous = NORMAL');
    migrate(db, {
      beforeCreate: () => refuseEmptyOverJobs(existed, size, dbFile, dataDir),
      newer: (v) => refuseNewer(v, MIGRATIONS.length, dbFile),
    });
    return db;
  } catch (e) {
    try {
      db.close();
    } catch {
      /* already unusable */
    }
    throw asOpenError(e, dbFile, dataDir);
  }
}
