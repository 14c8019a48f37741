/**
 * Numbers for /reverie stats: jobs per day, median wait before a job starts, median time per step on
 * each device. Read-only queries on the job store.
 */
import type { JobStore } from '../jobs/store.ts';

export interface DayStats { day: string; total: number; done: number; failed: number; cancelled: number }
export interface DeviceStats { device: string; runs: number; medianSecPerStep: number; medianSecPerUnitStep: number }
export interface BotStats {
  days: DayStats[];
  medianWaitSec: number | undefined;
  waitSamples: number;
  devices: DeviceStats[];
  active: { queued: number; running: number };
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function computeStats(store: JobStore, days = 7, now = Date.now()): BotStats {
  const since = now - days * 86_400_000;
  const dayRows = store.db
    .prepare<[number], DayStats>(
      `SELECT date(created_at / 1000, 'unixepoch') AS day, COUNT(*) AS total,
              SUM(state = 'done') AS done, SUM(state = 'failed') AS failed, SUM(state = 'cancelled') AS cancelled
         FROM jobs WHERE created_at >= ? GROUP BY day ORDER BY day`,
    )
    .all(since);
  const waits = store.db
    .prepare<[number], { w: number }>('SELECT started_at - created_at AS w FROM jobs WHERE started_at IS NOT NULL AND created_at >= ?')
    .all(since)
    .map((r) => r.w / 1000);
  const rows = store.db
    .prepare<[number], { device: string; s: number; u: number }>('SELECT device, sec_per_step AS s, sec_per_unit_step AS u FROM step_times WHERE at >= ?')
    .all(since);
  const byDevice = new Map<string, { s: number[]; u: number[] }>();
  for (const r of rows) {
    let d = byDevice.get(r.device);
    if (!d) byDevice.set(r.device, (d = { s: [], u: [] }));
    d.s.push(r.s);
    d.u.push(r.u);
  }
  const active = store.db
    .prepare<[], { queued: number; running: number }>(`SELECT SUM(state = 'queued') AS queued, SUM(state = 'running') AS running FROM jobs`)
    .get() ?? { queued: 0, running: 0 };
  return {
    days: dayRows,
    medianWaitSec: median(waits),
    waitSamples: waits.length,
    devices: [...byDevice].map(([device, d]) => ({ device, runs: d.s.length, medianSecPerStep: median(d.s)!, medianSecPerUnitStep: median(d.u)! })),
    active: { queued: active.queued ?? 0, running: active.running ?? 0 },
  };
}
