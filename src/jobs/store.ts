/**
 * Job store: SQLite (better-sqlite3, WAL) for records, files under <dataDir>/jobs/<id>/ for tensors and
 * images. Safe with several connections and processes at once: WAL, busy_timeout, and every write is a
 * BEGIN IMMEDIATE transaction (a deferred one that upgrades read→write can fail with SQLITE_BUSY without
 * waiting). Files are written to a temp name, fsynced and renamed before the row that points at them is
 * committed; the file a row pointed at before is removed only after the commit, so a kill at any moment
 * leaves the row pointing at a complete file.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { encodeCheckpoint } from './checkpoint-codec.ts';
import { encodeNpy } from '../engine/npy.ts';
import type { ServiceRecord } from './fairness.ts';
import { fileTag, jobDirOf, readCheckpointFile, sha256, sweepDir, writeFileAtomic } from './store-files.ts';
import { MIGRATIONS, rowToJob, type JobRow } from './store-schema.ts';
import { openChecked } from './store-open.ts';
import { shownPath } from './store-check.ts';
import { acquireLease, readLease, releaseLease, renewLease, type Lease, type LeaseRequest } from './store-lease.ts';
import * as q from './store-queries.ts';
import type {
  DayCounts,
  DeviceStepStats,
  DiscordRefPatch,
  JobQuery,
  JobStoreApi,
  StepTimeRecord,
  StepTimeSample,
} from './store-api.ts';
import { type Checkpoint, type JobRecord, type JobResult, type JobState, type NewJob } from './types.ts';

export type { DeviceStepStats, StepTimeSample } from './store-api.ts';

export interface JobStoreOptions {
  dataDir: string; // files go to <dataDir>/jobs/<id>/
  dbFile?: string; // default <dataDir>/reverie.db
  busyTimeoutMs?: number; // default 10 000
  /** fsync files before renaming them into place (default true; survives power loss, not just kills). */
  durable?: boolean;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

export function newJobId(): string {
  return randomBytes(6).toString('hex');
}

/** The SQLite job store: the only place in the bot that holds SQL for jobs, settings and step times. */
export class JobStore implements JobStoreApi {
  readonly dataDir: string;
  readonly dbFile: string;
  private readonly db: Database.Database;
  private readonly durable: boolean;
  private readonly stmts;
  private closed = false;
  private leaseToken: string | undefined;

  constructor(opts: JobStoreOptions) {
    this.dataDir = path.resolve(opts.dataDir);
    this.dbFile = opts.dbFile ?? path.join(this.dataDir, 'reverie.db');
    this.durable = opts.durable ?? true;
    fs.mkdirSync(path.dirname(this.dbFile), { recursive: true });
    fs.mkdirSync(path.join(this.dataDir, 'jobs'), { recursive: true });
    const db = (this.db = openChecked(this.dbFile, this.dataDir, opts.busyTimeoutMs ?? 10_000));
    this.stmts = {
      get: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      byMessage: db.prepare<[string, string], JobRow>('SELECT * FROM jobs WHERE message_id = ? OR thread_id = ? ORDER BY seq DESC LIMIT 1'),
      active: db.prepare<[], JobRow>("SELECT * FROM jobs WHERE state IN ('queued','running') ORDER BY seq"),
      insert: db.prepare(
        `INSERT INTO jobs (id, user_id, user_name, guild_id, parent_id, request, state, channel_id, message_id, thread_id,
           interaction_token, created_at, updated_at)
         VALUES (@id, @userId, @userName, @guildId, @parentId, @request, 'queued', @channelId, @messageId, @threadId,
           @interactionToken, @now, @now)`,
      ),
      files: db.prepare<[string], { c: string | null; s: string | null }>('SELECT checkpoint_path AS c, snapshot_path AS s FROM jobs WHERE id = ?'),
      checkpoint: db.prepare<[string], { p: string | null; sha: string | null; size: number | null; step: number | null }>(
        'SELECT checkpoint_path AS p, checkpoint_sha256 AS sha, checkpoint_size AS size, checkpoint_step AS step FROM jobs WHERE id = ?',
      ),
      getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      setSetting: db.prepare(
        'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      ),
      addStep: db.prepare(
        'INSERT INTO step_times (device, job_id, steps, sec_per_step, unit_factor, sec_per_unit_step, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      recentSteps: db.prepare<[string, number], { v: number; at: number }>(
        'SELECT sec_per_unit_step AS v, at FROM step_times WHERE device = ? ORDER BY id DESC LIMIT ?',
      ),
    };
  }

  /** Runs fn in a BEGIN IMMEDIATE transaction. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** This connection's journal mode and busy timeout (for tests and diagnostics). */
  get connectionSettings(): { journalMode: string; busyTimeoutMs: number } {
    return {
      journalMode: this.db.pragma('journal_mode', { simple: true }) as string,
      busyTimeoutMs: this.db.pragma('busy_timeout', { simple: true }) as number,
    };
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

  findByMessageId(messageId: string): JobRecord | undefined {
    const r = this.stmts.byMessage.get(messageId, messageId);
    return r ? rowToJob(r) : undefined;
  }

  listActive(): JobRecord[] {
    return this.stmts.active.all().map(rowToJob);
  }

  listJobs(q: JobQuery = {}): JobRecord[] {
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

  /** UPDATE jobs SET cols (and updated_at) WHERE id; the caller holds the transaction. */
  private updateRow(id: string, cols: Record<string, unknown>): void {
    const keys = Object.keys(cols);
    const sql = `UPDATE jobs SET ${keys.map((k) => `${k} = @${k}`).join(', ')}, updated_at = @__now WHERE id = @__id`;
    this.db.prepare(sql).run({ ...cols, __now: Date.now(), __id: id });
  }

  private update(id: string, cols: Record<string, unknown>): void {
    this.tx(() => this.updateRow(id, cols));
  }

  setDiscordRefs(id: string, refs: DiscordRefPatch): void {
    const cols: Record<string, unknown> = {};
    if (refs.messageId !== undefined) cols.message_id = refs.messageId;
    if (refs.threadId !== undefined) cols.thread_id = refs.threadId;
    if (refs.interactionToken !== undefined) cols.interaction_token = refs.interactionToken;
    if (refs.channelId !== undefined) cols.channel_id = refs.channelId;
    if (Object.keys(cols).length) this.update(id, cols);
  }

  markRunning(id: string, device: string, now = Date.now()): void {
    this.tx(() =>
      this.db
        .prepare("UPDATE jobs SET state = 'running', device = ?, started_at = COALESCE(started_at, ?), updated_at = ? WHERE id = ? AND state IN ('queued', 'running')")
        .run(device, now, now, id),
    );
  }

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
    return jobDirOf(this.dataDir, id);
  }

  writeFileAtomic(file: string, data: Buffer): void {
    writeFileAtomic(file, data, this.durable);
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
      const file = path.join(dir, `checkpoint-${c.step}-${fileTag()}.bin`);
      this.writeFileAtomic(file, buf);
      Object.assign(cols, { checkpoint_path: file, checkpoint_step: c.step, checkpoint_sha256: sha256(buf), checkpoint_size: buf.length, step: c.step });
      out.checkpointPath = file;
    }
    if (snapshot) {
      const file = path.join(dir, `snapshot-${snapshot.step}-${fileTag()}.png`);
      this.writeFileAtomic(file, snapshot.png);
      Object.assign(cols, { snapshot_path: file, snapshot_step: snapshot.step });
      out.snapshotPath = file;
    }
    if (!c && !snapshot) return out;
    const old = this.tx(() => {
      const before = this.stmts.files.get(id);
      if (!before) throw new Error(`no job ${id}`);
      this.updateRow(id, cols);
      return before;
    });
    if (c && old.c && old.c !== out.checkpointPath) fs.rmSync(old.c, { force: true });
    if (snapshot && old.s && old.s !== out.snapshotPath) fs.rmSync(old.s, { force: true });
    return out;
  }

  loadCheckpoint(id: string): Checkpoint | undefined {
    const r = this.stmts.checkpoint.get(id);
    if (!r?.p) return undefined;
    return readCheckpointFile(id, { path: r.p, sha256: r.sha, size: r.size, step: r.step });
  }

  dropCheckpoint(id: string): void {
    const p = this.stmts.checkpoint.get(id)?.p;
    this.update(id, { checkpoint_path: null, checkpoint_step: null, checkpoint_sha256: null, checkpoint_size: null });
    if (p) fs.rmSync(p, { force: true });
  }

  /** Deletes temp files and checkpoint/snapshot files the row does not point at (left by a kill). */
  sweepJobDir(id: string): number {
    const dir = this.jobDir(id);
    if (!fs.existsSync(dir)) return 0;
    const r = this.stmts.files.get(id);
    return sweepDir(dir, [r?.c, r?.s]);
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

  stepTimesSince(since: number): StepTimeRecord[] {
    return this.db
      .prepare<[number], StepTimeRecord>('SELECT device, sec_per_step AS secPerStep, sec_per_unit_step AS secPerUnitStep FROM step_times WHERE at >= ?')
      .all(since);
  }

  // ---------------------------------------------------------------- reporting (store-queries.ts)

  recentStarts(limit: number): ServiceRecord[] {
    return q.recentStarts(this.db, limit);
  }
  countByState(): Record<JobState, number> {
    return q.countByState(this.db);
  }
  jobsPerDay(since: number): DayCounts[] {
    return q.jobsPerDay(this.db, since);
  }
  waitTimesSince(since: number): number[] {
    return q.waitTimesSince(this.db, since);
  }
  finishedBefore(before: number, limit = 500): JobRecord[] {
    return q.finishedBefore(this.db, before, limit);
  }
  forgetResultFiles(id: string): void {
    this.tx(() => q.forgetResultFiles(this.db, id));
  }
  pruneEndedJob(id: string): number {
    const dir = this.jobDir(id);
    return this.tx(() => q.forgetIntermediates(this.db, id)) && fs.existsSync(dir) ? sweepDir(dir, []) : 0;
  }

  // ---------------------------------------------------------------- lease (store-lease.ts) and backups

  acquireLease(req: LeaseRequest): Lease {
    const l = this.tx(() => acquireLease(this.db, req, `DB_PATH=${shownPath(this.dbFile)}`));
    this.leaseToken = req.token; // close() gives it up
    return l;
  }
  renewLease(token: string): boolean {
    return this.closed ? false : this.tx(() => renewLease(this.db, token));
  }
  releaseLease(token: string): void {
    if (!this.closed) this.tx(() => releaseLease(this.db, token));
    if (token === this.leaseToken) this.leaseToken = undefined;
  }
  readLease(): Lease | undefined {
    return readLease(this.db);
  }
  /** An online copy of the whole database (better-sqlite3's backup API) into `file`. */
  async backupTo(file: string): Promise<void> {
    await this.db.backup(file);
  }

  /** A write that is rolled back (the write lock), then the data folder must be writable (store-queries.ts). */
  checkWritable(): void {
    if (this.closed) throw new Error('the job store is closed');
    q.checkWritable(this.db, this.dataDir);
  }

  close(): void {
    if (this.closed) return;
    try {
      if (this.leaseToken) this.releaseLease(this.leaseToken);
    } catch {
      /* a stale lease is taken over anyway */
    }
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
