/**
 * Numbers for /reverie stats: jobs per day, median wait before a job starts, median time per step on
 * each device. Read-only queries on the job store.
 */
import type { DayCounts, JobStoreApi } from '../jobs/store-api.ts';

export type DayStats = DayCounts;
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

export function computeStats(store: JobStoreApi, days = 7, now = Date.now()): BotStats {
  const since = now - days * 86_400_000;
  const waits = store.waitTimesSince(since).map((ms) => ms / 1000);
  const byDevice = new Map<string, { s: number[]; u: number[] }>();
  for (const r of store.stepTimesSince(since)) {
    let d = byDevice.get(r.device);
    if (!d) byDevice.set(r.device, (d = { s: [], u: [] }));
    d.s.push(r.secPerStep);
    d.u.push(r.secPerUnitStep);
  }
  const counts = store.countByState();
  return {
    days: store.jobsPerDay(since),
    medianWaitSec: median(waits),
    waitSamples: waits.length,
    devices: [...byDevice].map(([device, d]) => ({ device, runs: d.s.length, medianSecPerStep: median(d.s)!, medianSecPerUnitStep: median(d.u)! })),
    active: { queued: counts.queued, running: counts.running },
  };
}
