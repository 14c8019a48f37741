/**
 * The SQLite schema of the job store: numbered migrations (PRAGMA user_version holds how many have run)
 * and the mapping of a jobs row to a JobRecord.
 */
import type Database from 'better-sqlite3';
import type { DiscordRef, JobRecord, JobState } from './types.ts';

export interface JobRow {
  seq: number; id: string; user_id: string; user_name: string | null; guild_id: string | null;
  parent_id: string | null; request: string; state: JobState; device: string | null; channel_id: string;
  message_id: string | null; thread_id: string | null; interaction_token: string | null; created_at: number;
  started_at: number | null; finished_at: number | null; updated_at: number; step: number;
  interruptions: number; checkpoint_path: string | null; checkpoint_step: number | null;
  checkpoint_sha256: string | null; checkpoint_size: number | null; snapshot_path: string | null;
  snapshot_step: number | null; result_path: string | null; timelapse_path: string | null;
  final_z_path: string | null; metadata: string | null; error: string | null;
}

/** Numbered migrations; PRAGMA user_version holds how many have run. Append only. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE jobs (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL,
     user_name TEXT,
     guild_id TEXT,
     parent_id TEXT,
     request TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('queued','running','done','failed','cancelled')),
     device TEXT,
     channel_id TEXT NOT NULL,
     message_id TEXT,
     thread_id TEXT,
     interaction_token TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     updated_at INTEGER NOT NULL,
     step INTEGER NOT NULL DEFAULT 0,
     interruptions INTEGER NOT NULL DEFAULT 0,
     checkpoint_path TEXT,
     checkpoint_step INTEGER,
     checkpoint_sha256 TEXT,
     checkpoint_size INTEGER,
     snapshot_path TEXT,
     snapshot_step INTEGER,
     result_path TEXT,
     timelapse_path TEXT,
     final_z_path TEXT,
     metadata TEXT,
     error TEXT
   );
   CREATE INDEX jobs_state_seq ON jobs(state, seq);
   CREATE INDEX jobs_user_state ON jobs(user_id, state);
   CREATE INDEX jobs_parent ON jobs(parent_id);
   CREATE INDEX jobs_message ON jobs(message_id);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);
   CREATE TABLE step_times (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     device TEXT NOT NULL,
     job_id TEXT,
     steps INTEGER NOT NULL,
     sec_per_step REAL NOT NULL,
     unit_factor REAL NOT NULL,
     sec_per_unit_step REAL NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE INDEX step_times_device ON step_times(device, id);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function rowToJob(r: JobRow): JobRecord {
  const discord: DiscordRef = { guildId: r.guild_id, channelId: r.channel_id };
  if (r.message_id != null) discord.messageId = r.message_id;
  if (r.thread_id != null) discord.threadId = r.thread_id;
  if (r.interaction_token != null) discord.interactionToken = r.interaction_token;
  const job: JobRecord = {
    id: r.id,
    seq: r.seq,
    userId: r.user_id,
    guildId: r.guild_id,
    request: JSON.parse(r.request) as JobRecord['request'],
    state: r.state,
    discord,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    step: r.step,
    interruptions: r.interruptions,
  };
  if (r.user_name != null) job.userName = r.user_name;
  if (r.parent_id != null) job.parentId = r.parent_id;
  if (r.device != null) job.device = r.device;
  if (r.started_at != null) job.startedAt = r.started_at;
  if (r.finished_at != null) job.finishedAt = r.finished_at;
  if (r.checkpoint_step != null && r.checkpoint_path != null) job.checkpointStep = r.checkpoint_step;
  if (r.snapshot_path != null) job.snapshotPath = r.snapshot_path;
  if (r.result_path != null) job.resultPath = r.result_path;
  if (r.timelapse_path != null) job.timelapsePath = r.timelapse_path;
  if (r.final_z_path != null) job.finalZPath = r.final_z_path;
  if (r.metadata != null) job.metadata = JSON.parse(r.metadata) as Record<string, unknown>;
  if (r.error != null) job.error = r.error;
  return job;
}

/** Retries an operation that SQLite refused with SQLITE_BUSY outside the busy handler (e.g. journal mode). */
export function retryBusy<T>(fn: () => T, tries = 200): T {
  for (let i = 0; ; i++) {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') || i >= tries) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + Math.random() * 20);
    }
  }
}

/** `beforeCreate` runs in the write transaction when the file has no schema yet (it may throw to refuse). */
export function migrate(db: Database.Database, hooks: { beforeCreate?(): void; newer?(version: number): void } = {}): void {
  const current = (): number => db.pragma('user_version', { simple: true }) as number;
  const v0 = current();
  if (v0 > MIGRATIONS.length) hooks.newer?.(v0);
  if (v0 >= MIGRATIONS.length) return;
  // IMMEDIATE: two processes opening a fresh database at once serialise here; the second sees the new version.
  retryBusy(() =>
    db
      .transaction(() => {
        if (current() === 0) hooks.beforeCreate?.();
        for (let v = current(); v < MIGRATIONS.length; v++) {
          db.exec(MIGRATIONS[v]!);
          db.pragma(`user_version = ${v + 1}`);
        }
      })
      .immediate(),
  );
}
