/**
 * /healthz checks: the Discord gateway connection, the job store (a write that is rolled back, and the
 * data folder), and each device's engine worker. Every check is cheap and synchronous.
 */
import type { DiskSpace } from '../jobs/admission.ts';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
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

/** A runner's health from its optional state/lastError/restarts/alive (EngineRunner has them; others may not). */
export function runnerHealth(r: JobRunner): Check & { state: string; restarts: number } {
  const restarts = r.restarts ?? 0;
  const why = r.lastError !== undefined ? ` (${r.lastError})` : '';
  if (r.state !== undefined) {
    const state = r.state;
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
  if (r.alive === false) return { ok: false, state: 'dead', restarts, reason: `the engine worker on ${r.device} is not running` };
  return { ok: true, state: 'ready', restarts };
}

/** The store must be able to take a write now (nothing is written), and its data folder must be writable. */
export function storeHealth(store: JobStoreApi): Check {
  if (!store.isOpen) return { ok: false, reason: 'the job store is closed' };
  try {
    store.checkWritable();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the job store is not writable (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
}

export interface HealthSources {
  client: GatewayLike;
  store: JobStoreApi;
  scheduler: Pick<Scheduler, 'isShuttingDown' | 'devicesStatus'>;
  runners: readonly JobRunner[];
  /** free space of the data folder against MIN_FREE_MB; undefined when the guard is off */
  disk?: () => DiskSpace | undefined;
}

export interface HealthReport {
  ok: boolean;
  /** one sentence per failed check */
  reasons: string[];
  gateway: ReturnType<typeof gatewayHealth>;
  store: Check;
  devices: Record<string, ReturnType<typeof runnerHealth> & { paused: boolean; running: number }>;
  disk?: DiskSpace;
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
  const disk = src.disk?.();
  if (disk && !disk.ok) reasons.push(`the data folder has ${disk.freeMb} MB free, under MIN_FREE_MB=${disk.minFreeMb}: new jobs are refused`);
  return { ok: reasons.length === 0, reasons, gateway, store, devices, ...(disk ? { disk } : {}), uptimeSec: Math.round(process.uptime()) };
}
