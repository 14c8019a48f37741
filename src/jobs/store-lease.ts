/**
 * One bot per store: a lease row in the settings table (key `ops.lease`: pid, host, token, heartbeat).
 * Taken at start in a write transaction; renewed by a heartbeat; released on close. A lease whose
 * heartbeat is older than `staleMs`, or whose process is gone (same host, pid not alive), is taken over.
 */
import type Database from 'better-sqlite3';
import os from 'node:os';
import { pidAlive } from '../process-alive.ts';
import { LeaseHeldError } from './errors.ts';

export const LEASE_KEY = 'ops.lease';

export interface Lease {
  pid: number;
  host: string;
  /** random, per holder: only the holder renews or releases it */
  token: string;
  heartbeatAt: number;
  takenAt: number;
}

export interface LeaseRequest {
  token: string;
  pid?: number;
  host?: string;
  /** no heartbeat for this long: the lease is free (default 30 s) */
  staleMs?: number;
}

export const DEFAULT_LEASE_STALE_MS = 30_000;

function read(db: Database.Database): Lease | undefined {
  const r = db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?').get(LEASE_KEY);
  return r ? (JSON.parse(r.value) as Lease) : undefined;
}

function write(db: Database.Database, l: Lease): void {
  db.prepare('INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at').run(
    LEASE_KEY,
    JSON.stringify(l),
    l.heartbeatAt,
  );
}


/** Is this lease someone else's live lease? */
export function leaseIsLive(l: Lease, now: number, staleMs: number, me: { token: string; host: string; pid: number }): boolean {
  if (l.token === me.token) return false;
  if (now - l.heartbeatAt > staleMs) return false;
  if (l.host === me.host && (l.pid === me.pid || !pidAlive(l.pid))) return false;
  return true;
}

/** Takes the lease or throws LeaseHeldError; the caller wraps it in a write transaction. */
export function acquireLease(db: Database.Database, req: LeaseRequest, where: string, now = Date.now()): Lease {
  const me = { token: req.token, pid: req.pid ?? process.pid, host: req.host ?? os.hostname() };
  const cur = read(db);
  if (cur && leaseIsLive(cur, now, req.staleMs ?? DEFAULT_LEASE_STALE_MS, me)) throw new LeaseHeldError(cur, where);
  const l: Lease = { ...me, heartbeatAt: now, takenAt: cur?.token === me.token ? cur.takenAt : now };
  write(db, l);
  return l;
}

/** Renews the heartbeat; false when the lease is no longer ours (taken over). */
export function renewLease(db: Database.Database, token: string, now = Date.now()): boolean {
  const cur = read(db);
  if (!cur || cur.token !== token) return false;
  write(db, { ...cur, heartbeatAt: now });
  return true;
}

export function releaseLease(db: Database.Database, token: string): void {
  const cur = read(db);
  if (cur?.token === token) db.prepare('DELETE FROM settings WHERE key = ?').run(LEASE_KEY);
}

export function readLease(db: Database.Database): Lease | undefined {
  return read(db);
}
