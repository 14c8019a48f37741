/**
 * /healthz checks: the Discord gateway connection, the job store (a write that is rolled back, and the
 * data folder), and each device's engine worker. Every check is cheap and synchronous.
 */
import fs from 'node:fs';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { JobStore } from '../jobs/store.ts';
import type { JobRunner } from '../jobs/types.ts';

/** What /healthz needs of the discord.js Client. */
export interface GatewayLike {
  isReady(): boolean;
  ws: { status: number; ping: number; shards: { size: number; every(fn: (s: { status: number }) => boolean): boolean } };
}

/** discord.js Status names (Status enum of discord.js 14). */
const GATEWAY_STATUS = ['ready', 'connecting', 'reconnecting', 'idle', 'nearly', 'disconnected', 'waiting for guilds', 'identifying', 'resuming'];

export interface Check {
  ok: boolean;
  reason?: string;
}

export function gatewayHealth(client: GatewayLike): Check & { status: string; pingMs?: number } {
  const status = GATEWAY_STATUS[client.ws.status] ?? `status ${client.ws.status}`;
  const shardsReady = client.ws.shards.size > 0 && client.ws.shards.every((s) => s.status === 0);
  if (client.isReady() && client.ws.status === 0 && shardsReady) return { ok: true, status, pingMs: client.ws.ping };
  return { ok: false, status, reason: `the Discord gateway is not connected (${shardsReady || !client.isReady() ? status : 'a shard is reconnecting'})` };
}

/** Duck-typed view of a runner's health: EngineRunner has state/lastError/restarts; others may have none. */
export function runnerHealth(r: JobRunner): Check & { state: string; restarts: number } {
  const h = r as JobRunner & { state?: unknown; lastError?: unknown; restarts?: unknown; alive?: unknown };
  const restarts = typeof h.restarts === 'number' ? h.restarts : 0;
  const why = typeof h.lastError === 'string' ? ` (${h.lastError})` : '';
  if (typeof h.state === 'string') {
    const state = h.state;
    if (state === 'ready') return { ok: true, state, restarts };
    const reason =
      state === 'starting'
        ? `the engine worker on ${r.device} is still loading the models`
        : state === 'restarting'
          ? `the engine worker on ${r.device} died${why}; a new one is loading the models`
          : state === 'failed'
            ? `the engine worker on ${r.device} could not load the models${why}`
            : `the engine worker on ${r.device} is ${state}`;
    return { ok: false, state, restarts, reason };
  }
  if (h.alive === false) return { ok: false, state: 'dead', restarts, reason: `the engine worker on ${r.device} is not running` };
  return { ok: true, state: 'ready', restarts };
}

/**
 * A write the store must be able to make: BEGIN IMMEDIATE takes the write lock (fails on a read-only or
 * locked database), one row goes into settings, and everything is rolled back. The data folder (where
 * snapshots and results go) must be writable too.
 */
export function storeHealth(store: JobStore): Check {
  if (!store.isOpen) return { ok: false, reason: 'the job store is closed' };
  const db = store.db;
  try {
    if (!db.inTransaction) {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.prepare("INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('ops.healthz', '0', ?)").run(Date.now());
      } finally {
        db.exec('ROLLBACK');
      }
    }
    fs.accessSync(store.dataDir, fs.constants.W_OK);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the job store is not writable (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}

export interface HealthSources {
  client: GatewayLike;
  store: JobStore;
  scheduler: Pick<Scheduler, 'isShuttingDown' | 'devicesStatus'>;
  runners: readonly JobRunner[];
}

export interface HealthReport {
  ok: boolean;
  /** one sentence per failed check */
  reasons: string[];
  gateway: ReturnType<typeof gatewayHealth>;
  store: Check;
  devices: Record<string, ReturnType<typeof runnerHealth> & { paused: boolean; running: number }>;
  uptimeSec: number;
}

export function checkHealth(src: HealthSources): HealthReport {
  const gateway = gatewayHealth(src.client);
  const store = storeHealth(src.store);
  const status = new Map(src.scheduler.devicesStatus().map((d) => [d.device, d]));
  const devices: HealthReport['devices'] = {};
  for (const r of src.runners) {
    const d = status.get(r.device);
    devices[r.device] = { ...runnerHealth(r), paused: d?.paused ?? false, running: d?.running.length ?? 0 };
  }
  const reasons: string[] = [];
  if (src.scheduler.isShuttingDown) reasons.push('the bot is stopping');
  if (!gateway.ok) reasons.push(gateway.reason!);
  if (!store.ok) reasons.push(store.reason!);
  for (const d of Object.values(devices)) if (!d.ok) reasons.push(d.reason!);
  return { ok: reasons.length === 0, reasons, gateway, store, devices, uptimeSec: Math.round(process.uptime()) };
}
