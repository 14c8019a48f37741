/**
 * Numbers for /reverie stats: jobs per day, median wait before a job starts, median time per step on
 * each device. Read-only queries on the job store.
 */
import fs from 'node:fs';
import path from 'node:path';
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

/** Bytes under a folder (files only, links not followed); stops counting after `maxEntries` entries. */
export async function dirSize(dir: string, maxEntries = 200_000): Promise<{ bytes: number; files: number; partial: boolean }> {
  let bytes = 0;
  let files = 0;
  let seen = 0;
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (++seen > maxEntries) return { bytes, files, partial: true };
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          bytes += (await fs.promises.stat(p)).size;
          files++;
        } catch {
          /* gone meanwhile */
        }
      }
    }
  }
  return { bytes, files, partial: false };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
