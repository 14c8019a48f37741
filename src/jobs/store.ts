/**
 * Job store: SQLite (better-sqlite3, WAL) for records, files under <dataDir>/jobs/<id>/ for tensors and
 * images. Safe with several connections and processes at once: WAL, busy_timeout, and every write is a
 * BEGIN IMMEDIATE transaction (a deferred one that upgrades read→write can fail with SQLITE_BUSY without
 * waiting). Files are written to a temp name, fsynced and renamed before the row that points at them is
 * committed; the file a row pointed at before is removed only after the commit, so a kill at any moment
 * leaves the row pointing at a complete file.
 */
import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint-codec.ts';
import { CheckpointError } from './errors.ts';
import { encodeNpy } from '../engine/npy.ts';
import type { Checkpoint, DiscordRef, JobRecord, JobResult, JobState, NewJob } from './types.ts';

export interface JobStoreOptions {
  dataDir: string; // files go to <dataDir>/jobs/<id>/
  dbFile?: string; // default <dataDir>/reverie.db
  busyTimeoutMs?: number; // default 10 000
  /** fsync files before renaming them into place (default true; survives power loss, not just kills). */
  durable?: boolean;
}

export interface StepTimeSample {
  device: string;
  jobId?: string;
  steps: number; // steps measured
  secPerStep: number;
  unitFactor: number; // (w*h/256²) * (cutn/32) of the job measured
}

export interface DeviceStepStats { device: string; samples: number; medianSecPerUnitStep: number; lastAt: number }

interface JobRow {
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
const MIGRATIONS: string[] = [
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

function rowToJob(r: JobRow): JobRecord {
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

export function newJobId(): string {
  return randomBytes(6).toString('hex');
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tag = (): string => randomBytes(3).toString('hex');

export class JobStore {
  readonly dataDir: string;
  readonly dbFile: string;
  readonly db: Database.Database;
  private readonly durable: boolean;
  private readonly stmts;
  private closed = false;

  constructor(opts: JobStoreOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.dbFile = opts.dbFile ?? path.join(this.dataDir, 'reverie.db');
    this.durable = opts.durable ?? true;
    fs.mkdirSync(path.dirname(this.dbFile), { recursive: true });
    fs.mkdirSync(path.join(this.dataDir, 'jobs'), { recursive: true });
    this.db = new Database(this.dbFile, { timeout: opts.busyTimeoutMs ?? 10_000 });
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
    this.retryBusy(() => this.db.pragma('journal_mode = WAL'));
    this.db.pragma('synchronous = NORMAL');
    this.migrate();
    this.stmts = {
      get: this.db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      byMessage: this.db.prepare<[string, string], JobRow>('SELECT * FROM jobs WHERE message_id = ? OR thread_id = ? ORDER BY seq DESC LIMIT 1'),
      active: this.db.prepare<[], JobRow>("SELECT * FROM jobs WHERE state IN ('queued','running') ORDER BY seq"),
      insert: this.db.prepare(
        `INSERT INTO jobs (id, user_id, user_name, guild_id, parent_id, request, state, channel_id, message_id, thread_id,
           interaction_token, created_at, updated_at)
         VALUES (@id, @userId, @userName, @guildId, @parentId, @request, 'queued', @channelId, @messageId, @threadId,
           @interactionToken, @now, @now)`,
      ),
      getSetting: this.db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: this.db.prepare(
        'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      ),
      addStep: this.db.prepare(
        'INSERT INTO step_times (device, job_id, steps, sec_per_step, unit_factor, sec_per_unit_step, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      recentSteps: this.db.prepare<[string, number], { v: number; at: number }>(
        'SELECT sec_per_unit_step AS v, at FROM step_times WHERE device = ? ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /** Retries an operation that SQLite refused with SQLITE_BUSY outside the busy handler (e.g. journal mode). */
  private retryBusy<T>(fn: () => T, tries = 200): T {
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

  private migrate(): void {
    const current = (): number => this.db.pragma('user_version', { simple: true }) as number;
    if (current() >= MIGRATIONS.length) return;
    // IMMEDIATE: two processes opening a fresh database at once serialise here; the second sees the new version.
    this.retryBusy(() =>
      this.db
        .transaction(() => {
          for (let v = current(); v < MIGRATIONS.length; v++) {
            this.db.exec(MIGRATIONS[v]!);
            this.db.pragma(`user_version = ${v + 1}`);
          }
        })
        .immediate(),
    );
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction. */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  // ---------------------------------------------------------------- jobs

  insertJob(j: NewJob, id: string = newJobId(), now = Date.now()): JobRecord {
    this.tx(() =>
      this.stmts.insert.run({
        id,
        userId: j.userId,
        userName: j.userName ?? null,
        guildId: j.guildId,
        parentId: j.parentId ?? null,
        request: JSON.stringify(j.request),
        channelId: j.discord.channelId,
        messageId: j.discord.messageId ?? null,
        threadId: j.discord.threadId ?? null,
        interactionToken: j.discord.interactionToken ?? null,
        now,
      }),
    );
    return this.getJob(id)!;
  }

  getJob(id: string): JobRecord | undefined {
    const r = this.stmts.get.get(id);
    return r ? rowToJob(r) : undefined;
  }

  /** The job whose reply message (or thread) this is: for reactions and buttons. */
  findByMessageId(messageId: string): JobRecord | undefined {
    const r = this.stmts.byMessage.get(messageId, messageId);
    return r ? rowToJob(r) : undefined;
  }

  /** Queued and running jobs in creation order. */
  listActive(): JobRecord[] {
    return this.stmts.active.all().map(rowToJob);
  }

  listJobs(q: { states?: JobState[]; userId?: string; guildId?: string; parentId?: string; limit?: number } = {}): JobRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.states?.length) {
      where.push(`state IN (${q.states.map(() => '?').join(',')})`);
      args.push(...q.states);
    }
    if (q.userId) (where.push('user_id = ?'), args.push(q.userId));
    if (q.guildId) (where.push('guild_id = ?'), args.push(q.guildId));
    if (q.parentId) (where.push('parent_id = ?'), args.push(q.parentId));
    const sql = `SELECT * FROM jobs ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq DESC LIMIT ?`;
    args.push(q.limit ?? 100);
    return (this.db.prepare(sql).all(...args) as JobRow[]).map(rowToJob);
  }

  private update(id: string, cols: Record<string, unknown>): void {
    const keys = Object.keys(cols);
    const sql = `UPDATE jobs SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`;
    this.tx(() => this.db.prepare(sql).run({ ...cols, __now: Date.now(), __id: id }));
  }

  setDiscordRefs(id: string, refs: Partial<Pick<DiscordRef, 'messageId' | 'threadId' | 'interactionToken' | 'channelId'>>): void {
    const cols: Record<string, unknown> = {};
    if (refs.messageId !== undefined) cols.message_id = refs.messageId;
    if (refs.threadId !== undefined) cols.thread_id = refs.threadId;
    if (refs.interactionToken !== undefined) cols.interaction_token = refs.interactionToken;
    if (refs.channelId !== undefined) cols.channel_id = refs.channelId;
    if (Object.keys(cols).length) this.update(id, cols);
  }

  /** Only from queued (or running again); a cancelled or finished job is never revived. */
  markRunning(id: string, device: string, now = Date.now()): void {
    this.tx(() =>
      this.db
        .prepare("UPDATE jobs SET state = 'running', device = ?, started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND state IN ('queued', 'running')")
        .run(device, now, now, id),
    );
  }

  /** Back to the queue (restart recovery, graceful shutdown); the checkpoint stays. */
  markQueued(id: string, interruptions?: number): void {
    const cols: Record<string, unknown> = { state: 'queued' };
    if (interruptions !== undefined) cols.interruptions = interruptions;
    this.update(id, cols);
  }

  setStep(id: string, step: number): void {
    this.update(id, { step });
  }

  markFailed(id: string, error: string, now = Date.now()): void {
    this.update(id, { state: 'failed', error, finished_at: now });
  }

  markCancelled(id: string, now = Date.now()): void {
    this.update(id, { state: 'cancelled', finished_at: now });
  }

  /** Writes the result files, then marks the job done in one transaction. */
  completeJob(id: string, result: JobResult, now = Date.now()): JobRecord {
    const dir = this.jobDir(id);
    const resultPath = path.join(dir, 'result.png');
    this.writeFileAtomic(resultPath, result.png);
    let timelapsePath: string | null = null;
    if (result.timelapseWebp) this.writeFileAtomic((timelapsePath = path.join(dir, 'timelapse.webp')), result.timelapseWebp);
    else if (result.timelapseGif) this.writeFileAtomic((timelapsePath = path.join(dir, 'timelapse.gif')), result.timelapseGif);
    let finalZPath: string | null = null;
    if (result.finalZ) this.writeFileAtomic((finalZPath = path.join(dir, 'final-z.npy')), Buffer.from(encodeNpy({ dtype: 'float32', shape: result.finalZ.shape, data: result.finalZ.data })));
    this.update(id, {
      state: 'done',
      finished_at: now,
      result_path: resultPath,
      timelapse_path: timelapsePath,
      final_z_path: finalZPath,
      metadata: JSON.stringify(result.metadata),
      error: null,
    });
    return this.getJob(id)!;
  }

  // ---------------------------------------------------------------- files and checkpoints

  jobDir(id: string): string {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad job id ${JSON.stringify(id)}`);
    return path.join(this.dataDir, 'jobs', id);
  }

  /** temp name → (fsync) → rename: readers see the old file or the whole new one, never a part. */
  writeFileAtomic(file: string, data: Buffer): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${tag()}`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, data);
      if (this.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  }

  /**
   * Saves a checkpoint (and optionally the snapshot png of the same step). Files get fresh names
   * (checkpoint-<step>-<tag>.bin, snapshot-<step>-<tag>.png) so a kill between the rename and the commit
   * can never leave the row pointing at a file with other contents; the previous files are removed after
   * the commit. The row records path, step, size and sha256 of the checkpoint.
   */
  saveCheckpoint(id: string, c: Checkpoint | undefined, snapshot?: { step: number; png: Buffer }): { checkpointPath?: string; snapshotPath?: string } {
    const dir = this.jobDir(id);
    const cols: Record<string, unknown> = {};
    const out: { checkpointPath?: string; snapshotPath?: string } = {};
    if (c) {
      const buf = encodeCheckpoint(c);
      const file = path.join(dir, `checkpoint-${c.step}-${tag()}.bin`);
      this.writeFileAtomic(file, buf);
      Object.assign(cols, { checkpoint_path: file, checkpoint_step: c.step, checkpoint_sha256: sha256(buf), checkpoint_size: buf.length, step: c.step });
      out.checkpointPath = file;
    }
    if (snapshot) {
      const file = path.join(dir, `snapshot-${snapshot.step}-${tag()}.png`);
      this.writeFileAtomic(file, snapshot.png);
      Object.assign(cols, { snapshot_path: file, snapshot_step: snapshot.step });
      out.snapshotPath = file;
    }
    if (!c && !snapshot) return out;
    const old = this.tx(() => {
      const before = this.db.prepare<[string], { c: string | null; s: string | null }>('SELECT checkpoint_path AS c, snapshot_path AS s FROM jobs WHERE id = ?').get(id);
      if (!before) throw new Error(`no job ${id}`);
      const keys = Object.keys(cols);
      this.db.prepare(`UPDATE jobs SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`).run({ ...cols, __now: Date.now(), __id: id });
      return before;
    });
    if (c && old.c && old.c !== out.checkpointPath) fs.rmSync(old.c, { force: true });
    if (snapshot && old.s && old.s !== out.snapshotPath) fs.rmSync(old.s, { force: true });
    return out;
  }

  /** The job's last checkpoint; undefined if it never saved one. Throws CheckpointError if it is missing or damaged. */
  loadCheckpoint(id: string): Checkpoint | undefined {
    const r = this.db
      .prepare<[string], { p: string | null; sha: string | null; size: number | null; step: number | null }>(
        'SELECT checkpoint_path AS p, checkpoint_sha256 AS sha, checkpoint_size AS size, checkpoint_step AS step FROM jobs WHERE id = ?',
      )
      .get(id);
    if (!r?.p) return undefined;
    let buf: Buffer;
    try {
      buf = fs.readFileSync(r.p);
    } catch (e) {
      throw new CheckpointError(id, 'missing', `${r.p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    if (buf.length !== r.size) throw new CheckpointError(id, 'corrupt', `${r.p} has ${buf.length} bytes, expected ${r.size}`);
    if (sha256(buf) !== r.sha) throw new CheckpointError(id, 'corrupt', `${r.p} fails its sha256 check`);
    let c: Checkpoint;
    try {
      c = decodeCheckpoint(buf);
    } catch (e) {
      throw new CheckpointError(id, 'corrupt', `${r.p}: ${(e as Error).message}`);
    }
    if (c.step !== r.step) throw new CheckpointError(id, 'corrupt', `${r.p} holds step ${c.step}, expected ${r.step}`);
    return c;
  }

  /** Removes the checkpoint file and its reference (after done/cancel; the result replaces it). */
  dropCheckpoint(id: string): void {
    const p = this.db.prepare<[string], { p: string | null }>('SELECT checkpoint_path AS p FROM jobs WHERE id = ?').get(id)?.p;
    this.update(id, { checkpoint_path: null, checkpoint_step: null, checkpoint_sha256: null, checkpoint_size: null });
    if (p) fs.rmSync(p, { force: true });
  }

  /** Deletes temp files and checkpoint/snapshot files the row does not point at (left by a kill). */
  sweepJobDir(id: string): number {
    const dir = this.jobDir(id);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return 0;
    }
    const r = this.db.prepare<[string], { c: string | null; s: string | null }>('SELECT checkpoint_path AS c, snapshot_path AS s FROM jobs WHERE id = ?').get(id);
    const keep = new Set([r?.c, r?.s].filter((x): x is string => !!x).map((p) => path.basename(p)));
    let n = 0;
    for (const name of names) {
      if (name.includes('.tmp-') || (/^(checkpoint|snapshot)-/.test(name) && !keep.has(name))) {
        fs.rmSync(path.join(dir, name), { force: true });
        n++;
      }
    }
    return n;
  }

  // ---------------------------------------------------------------- settings

  getSetting<T = unknown>(key: string): T | undefined {
    const r = this.stmts.getSetting.get(key);
    return r ? (JSON.parse(r.value) as T) : undefined;
  }

  setSetting(key: string, value: unknown): void {
    this.tx(() => this.stmts.setSetting.run(key, JSON.stringify(value), Date.now()));
  }

  allSettings(): Record<string, unknown> {
    const rows = this.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings').all();
    return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  }

  // ---------------------------------------------------------------- step-time measurements

  recordStepTime(s: StepTimeSample, now = Date.now()): void {
    if (!(s.secPerStep > 0) || !(s.unitFactor > 0) || !Number.isFinite(s.secPerStep)) return;
    this.tx(() => this.stmts.addStep.run(s.device, s.jobId ?? null, s.steps, s.secPerStep, s.unitFactor, s.secPerStep / s.unitFactor, now));
  }

  /** Median seconds per unit step (256², cutn 32) over the device's last `window` measurements. */
  secPerUnitStep(device: string, window = 20): number | undefined {
    const vals = this.stmts.recentSteps.all(device, window).map((r) => r.v).sort((a, b) => a - b);
    if (!vals.length) return undefined;
    const m = vals.length >> 1;
    return vals.length % 2 ? vals[m]! : (vals[m - 1]! + vals[m]!) / 2;
  }

  stepStats(window = 20): DeviceStepStats[] {
    const devices = this.db.prepare<[], { device: string; n: number; at: number }>('SELECT device, COUNT(*) AS n, MAX(at) AS at FROM step_times GROUP BY device').all();
    return devices.map((d) => ({ device: d.device, samples: d.n, medianSecPerUnitStep: this.secPerUnitStep(d.device, window)!, lastAt: d.at }));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  get isOpen(): boolean {
    return !this.closed;
  }
}

export function openStore(opts: JobStoreOptions): JobStore {
  return new JobStore(opts);
}
