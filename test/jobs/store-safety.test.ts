/**
 * The store never loses silently (issue 15), on real files: damaged, emptied and newer stores are
 * refused with one line; a missing file starts afresh; the lease admits one process; backups and
 * restore; retention of old results; the admission checks (disk space, inputs gone).
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admissionCheck, DISK_FULL_MESSAGE, INPUTS_GONE_MESSAGE } from '../../src/jobs/admission.ts';
import { backupNow, listBackups, restoreBackup, RestoreError, scheduleBackups } from '../../src/jobs/backups.ts';
import pino from 'pino';
import { loadConfig, parseDuration } from '../../src/config.ts';
import { JobRefusedError, LeaseHeldError, StoreUnusableError } from '../../src/jobs/errors.ts';
import { sweepResults, sweepUploads } from '../../src/jobs/retention.ts';
import { JobStore, openStore } from '../../src/jobs/store.ts';
import type { NewJob } from '../../src/jobs/types.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-safety-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const job = (prompt = 'a fox', extra: Partial<NewJob['request']> = {}): NewJob => ({
  userId: 'u1',
  guildId: 'g1',
  discord: { guildId: 'g1', channelId: 'c1' },
  request: { prompt, width: 64, height: 64, steps: 10, seed: 1, ...extra } as NewJob['request'],
});

/** A store with `n` jobs, one of them with a result folder; closed (its WAL checkpointed into the file). */
function storeWithJobs(n: number): string {
  const s = openStore({ dataDir: dir, durable: false });
  for (let i = 0; i < n; i++) s.insertJob(job(`job ${i} ${'x'.repeat(200)}`));
  const first = s.listJobs({ limit: 1 })[0]!;
  s.completeJob(first.id, { png: Buffer.from('png'), metadata: {} });
  s.close();
  return s.dbFile;
}

function refusal(fn: () => unknown): StoreUnusableError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreUnusableError);
    return e as StoreUnusableError;
  }
  throw new Error('the store opened');
}

describe('opening a store that is not right', () => {
  it('a 0-byte store while the data folder holds jobs is refused, not re-created; the line says what to do', () => {
    const db = storeWithJobs(3);
    fs.truncateSync(db, 0);
    fs.rmSync(`${db}-wal`, { force: true });
    const e = refusal(() => openStore({ dataDir: dir }));
    expect(e.reason).toBe('no-schema');
    expect(e.line).toMatch(/^The job store DB_PATH=\S+reverie\.db is empty \(0 bytes\), but DATA_DIR=\S+ holds jobs of an earlier store/);
    expect(e.line).toMatch(/restore a backup .*or move the file aside \(mv \S+reverie\.db \S+reverie\.db\.bad\) to start with an empty store\.$/);
    expect(e.line).not.toMatch(/\n/);
    expect(fs.statSync(db).size).toBe(0); // left as it was
  });

  it('a half-truncated store and a garbage file are refused as damaged', () => {
    const db = storeWithJobs(300);
    const size = fs.statSync(db).size;
    fs.truncateSync(db, Math.floor(size / 2));
    const half = refusal(() => openStore({ dataDir: dir }));
    expect(half.reason).toBe('damaged');
    expect(half.line).toMatch(/^The job store DB_PATH=\S+ is damaged \(.+\): restore .* or move the file aside/);
    fs.writeFileSync(db, Buffer.alloc(8192, 'garbage!'));
    const garbage = refusal(() => openStore({ dataDir: dir }));
    expect(garbage.reason).toBe('damaged');
    expect(garbage.line).toMatch(/is damaged \(file is not a database\)/);
  });

  it('a missing file starts a new store (that is what moving it aside means); so does a 0-byte file in an empty data folder', () => {
    const db = storeWithJobs(2);
    fs.renameSync(db, `${db}.bad`);
    fs.rmSync(`${db}-wal`, { force: true });
    fs.rmSync(`${db}-shm`, { force: true });
    const s = openStore({ dataDir: dir });
    expect(s.listJobs()).toEqual([]);
    s.close();
    const other = path.join(dir, 'fresh');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'reverie.db'), '');
    const t = openStore({ dataDir: other });
    expect(t.schemaVersion).toBeGreaterThan(0);
    t.close();
  });

  it('a schema newer than this code is refused', () => {
    const db = storeWithJobs(1);
    const raw = new Database(db);
    raw.pragma('user_version = 999');
    raw.close();
    expect(refusal(() => openStore({ dataDir: dir })).line).toMatch(/schema version 999, newer than this Reverie knows/);
  });
});

describe('the lease: one bot per store', () => {
  it('a second holder gets "another Reverie (pid N on HOST)"; a stale one is taken over; release frees it', () => {
    const a = openStore({ dataDir: dir });
    const b = openStore({ dataDir: dir });
    a.acquireLease({ token: 'A', pid: 4242, host: 'alpha' });
    expect(() => b.acquireLease({ token: 'B', pid: 99, host: 'beta' })).toThrow(LeaseHeldError);
    expect(() => b.acquireLease({ token: 'B', pid: 99, host: 'beta' })).toThrow(/another Reverie \(pid 4242 on alpha\) is using this store \(DB_PATH=/);
    expect(a.renewLease('A')).toBe(true);
    // no heartbeat for longer than staleMs: free
    expect(b.acquireLease({ token: 'B', pid: 99, host: 'beta', staleMs: -1 })).toMatchObject({ pid: 99, host: 'beta' });
    expect(a.renewLease('A')).toBe(false); // A learns it lost the lease
    b.releaseLease('B');
    expect(b.readLease()).toBeUndefined();
    a.close();
    b.close();
  });

  it('a lease of a dead process on this host is taken over at once', () => {
    const a = openStore({ dataDir: dir });
    a.acquireLease({ token: 'A', pid: 2 ** 22 + 12345, host: os.hostname() }); // no such pid
    expect(a.acquireLease({ token: 'B', pid: 77, host: os.hostname() }).token).toBe('B');
    a.close();
  });
});

describe('backups and restore', () => {
  it('online backups are pruned to BACKUP_KEEP; restore brings the jobs back and keeps the damaged file aside', async () => {
    const s = openStore({ dataDir: dir });
    for (let i = 0; i < 5; i++) s.insertJob(job(`job ${i}`));
    for (let i = 0; i < 4; i++) await backupNow(s, dir, 3, new Date(Date.UTC(2026, 0, 1, 0, 0, i)));
    expect(listBackups(dir).map((b) => b.name)).toEqual(['reverie-20260101-000003.db', 'reverie-20260101-000002.db', 'reverie-20260101-000001.db']);
    s.close();
    fs.writeFileSync(s.dbFile, 'garbage');
    expect(() => openStore({ dataDir: dir })).toThrow(StoreUnusableError);
    const r = restoreBackup(s.dbFile, dir);
    expect(r).toMatchObject({ jobs: 5, from: expect.stringMatching(/reverie-20260101-000003\.db$/) });
    expect(fs.readFileSync(r.movedAside!, 'utf8')).toBe('garbage');
    const back = openStore({ dataDir: dir });
    expect(back.listJobs()).toHaveLength(5);
    back.close();
    expect(() => restoreBackup(s.dbFile, dir, 'reverie-nope.db')).toThrow(RestoreError);
  });
});

describe('scheduled backups and their settings', () => {
  it('BACKUP_EVERY, BACKUP_KEEP, RETENTION_DAYS and MIN_FREE_MB: defaults and checks', () => {
    const env = { DISCORD_TOKEN: 'x'.repeat(30) };
    expect(loadConfig(env, { envFile: false })).toMatchObject({ backupEveryMs: 6 * 3_600_000, backupKeep: 7, retentionDays: 0, minFreeMb: 500 });
    expect(loadConfig({ ...env, BACKUP_EVERY: '30m', BACKUP_KEEP: '2', RETENTION_DAYS: '14', MIN_FREE_MB: '0' }, { envFile: false })).toMatchObject({
      backupEveryMs: 1_800_000,
      backupKeep: 2,
      retentionDays: 14,
      minFreeMb: 0,
    });
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('off')).toBe(0);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('5ms')).toBeUndefined();
    expect(() => loadConfig({ ...env, BACKUP_EVERY: 'weekly' }, { envFile: false })).toThrow(/BACKUP_EVERY: expected a duration like "6h", "30m" or "1d", or 0 for no backups, got "weekly"/);
  });

  it('the schedule writes backups while the store is in use and keeps the newest BACKUP_KEEP', async () => {
    const s = openStore({ dataDir: dir });
    s.insertJob(job());
    const sched = scheduleBackups(s, { dataDir: dir, everyMs: 1000, keep: 2, firstDelayMs: 0, log: pino({ level: 'silent' }) });
    const deadline = Date.now() + 8000;
    while (listBackups(dir).length < 2 && Date.now() < deadline) {
      s.insertJob(job()); // writes go on meanwhile
      await new Promise((r) => setTimeout(r, 100));
    }
    await sched.stop();
    const names = listBackups(dir);
    expect(names.length).toBe(2);
    s.close();
  });
});

describe('retention and admission', () => {
  it('RETENTION_DAYS removes old results and keeps recent ones; stray uploads go after an hour', () => {
    const s = openStore({ dataDir: dir, durable: false }) as JobStore;
    const old = s.insertJob(job('old'));
    const recent = s.insertJob(job('recent'));
    const now = Date.now();
    s.completeJob(old.id, { png: Buffer.from('a'), timelapseWebp: Buffer.from('t'), metadata: {} }, now - 10 * 86_400_000);
    s.completeJob(recent.id, { png: Buffer.from('b'), metadata: {} }, now - 86_400_000);
    const oldResult = s.getJob(old.id)!.resultPath!;
    expect(sweepResults(s, 0, now)).toBe(0); // 0 keeps for ever
    expect(sweepResults(s, 7, now)).toBe(1);
    expect(fs.existsSync(oldResult)).toBe(false);
    expect(s.getJob(old.id)!.resultPath).toBeUndefined();
    expect(fs.existsSync(s.getJob(recent.id)!.resultPath!)).toBe(true);
    const uploads = path.join(dir, 'uploads');
    fs.mkdirSync(uploads);
    fs.writeFileSync(path.join(uploads, 'stray.png'), 'x');
    fs.writeFileSync(path.join(uploads, 'used.png'), 'x');
    s.insertJob(job('uses it', { initImage: path.join(uploads, 'used.png') }));
    expect(sweepUploads(s, uploads, 3_600_000, now + 7_200_000)).toBe(1);
    expect(fs.readdirSync(uploads)).toEqual(['used.png']);
    s.close();
  });

  it('refuses with a polite message under MIN_FREE_MB, and a job whose input files are gone', () => {
    let free = 100;
    const admit = admissionCheck({ dataDir: dir, minFreeMb: 500, measure: () => free });
    expect(() => admit(job())).toThrow(DISK_FULL_MESSAGE);
    try {
      admit(job());
    } catch (e) {
      expect((e as JobRefusedError).code).toBe('disk_full');
    }
    free = 1000;
    expect(() => admit(job())).not.toThrow();
    expect(() => admit(job('x', { initImage: path.join(dir, 'gone.png') }))).toThrow(INPUTS_GONE_MESSAGE);
    expect(() => admissionCheck({ dataDir: dir, minFreeMb: 0, measure: () => 0 })(job())).not.toThrow();
  });
});
