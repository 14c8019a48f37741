/**
 * Read-mostly queries of the SQLite job store (reporting, retention), kept out of store.ts. Only the
 * store calls these, with its private connection.
 */
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import type { ServiceRecord } from './fairness.ts';
import type { DayCounts } from './store-api.ts';
import { rowToJob, type JobRow } from './store-schema.ts';
import { JOB_STATES, type JobRecord, type JobState } from './types.ts';

export function recentStarts(db: Database.Database, limit: number): ServiceRecord[] {
  return db
    .prepare<[number], ServiceRecord>(
      'SELECT user_id AS userId, guild_id AS guildId, MAX(started_at) AS at FROM jobs WHERE started_at IS NOT NULL GROUP BY user_id, guild_id ORDER BY at DESC LIMIT ?',
    )
    .all(limit);
}

export function countByState(db: Database.Database): Record<JobState, number> {
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  for (const r of db.prepare<[], { state: JobState; n: number }>('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all()) counts[r.state] = r.n;
  return counts;
}

export function jobsPerDay(db: Database.Database, since: number): DayCounts[] {
  return db
    .prepare<[number], DayCounts>(
      `SELECT date(created_at / 1000, 'unixepoch') AS day, COUNT(*) AS total,
              SUM(state = 'done') AS done, SUM(state = 'failed') AS failed, SUM(state = 'cancelled') AS cancelled
         FROM jobs WHERE created_at >= ? GROUP BY day ORDER BY day`,
    )
    .all(since);
}

export function waitTimesSince(db: Database.Database, since: number): number[] {
  return db
    .prepare<[number], { w: number }>('SELECT started_at - created_at AS w FROM jobs WHERE started_at IS NOT NULL AND created_at >= ?')
    .all(since)
    .map((r) => r.w);
}

/** Finished jobs (done, failed, cancelled) that ended before `before` and still point at result files. */
export function finishedBefore(db: Database.Database, before: number, limit: number): JobRecord[] {
  return db
    .prepare<[number, number], JobRow>(
      `SELECT * FROM jobs WHERE state IN ('done','failed','cancelled') AND finished_at < ?
         AND (result_path IS NOT NULL OR timelapse_path IS NOT NULL OR final_z_path IS NOT NULL OR snapshot_path IS NOT NULL)
       ORDER BY finished_at LIMIT ?`,
    )
    .all(before, limit)
    .map(rowToJob);
}

/** The row no longer points at result, timelapse, final z or snapshot files (retention removed them). */
export function forgetResultFiles(db: Database.Database, id: string): void {
  db.prepare('UPDATE jobs SET result_path = NULL, timelapse_path = NULL, final_z_path = NULL, snapshot_path = NULL, snapshot_step = NULL, updated_at = ? WHERE id = ?').run(Date.now(), id);
}

/** An ended job forgets its snapshot and checkpoint; false when the job has not ended. */
export function forgetIntermediates(db: Database.Database, id: string): boolean {
  return (
    db
      .prepare(
        `UPDATE jobs SET snapshot_path = NULL, snapshot_step = NULL, checkpoint_path = NULL, checkpoint_step = NULL, checkpoint_sha256 = NULL,
           checkpoint_size = NULL, updated_at = ? WHERE id = ? AND state IN ('done','failed','cancelled')`,
      )
      .run(Date.now(), id).changes > 0
  );
}

/**
 * BEGIN IMMEDIATE takes the write lock (fails on a read-only or locked database), one row goes into
 * settings, and everything is rolled back; then the data folder (snapshots, results) must be writable.
 */
export function checkWritable(db: Database.Database, dataDir: string): void {
  if (!db.inTransaction) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.prepare("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('ops.healthz', '0', ?)").run(Date.now());
    } finally {
      db.exec('ROLLBACK');
    }
  }
  fs.accessSync(dataDir, fs.constants.W_OK);
}
