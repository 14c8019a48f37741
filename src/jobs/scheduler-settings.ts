/** The scheduler's settings that survive restarts (in the store's settings): limits and paused devices. */
import type { JobStoreApi } from './store-api.ts';
import type { SchedulerLimits } from './types.ts';

export const DEFAULT_LIMITS: SchedulerLimits = { perUserCap: 3, globalQueueCap: 200, maxInterruptions: 3 };
const LIMIT_KEYS: (keyof SchedulerLimits)[] = ['perUserCap', 'globalQueueCap', 'maxInterruptions'];
const LIMITS = 'scheduler.limits';
const PAUSED = 'scheduler.pausedDevices';

/** The defaults, then the configured limits, then those an admin saved. */
export function loadLimits(store: JobStoreApi, configured: Partial<SchedulerLimits> = {}): SchedulerLimits {
  return { ...DEFAULT_LIMITS, ...configured, ...(store.getSetting<Partial<SchedulerLimits>>(LIMITS) ?? {}) };
}

/** Throws a RangeError unless every value given is a whole number ≥ 0. */
export function checkLimits(patch: Partial<SchedulerLimits>): void {
  for (const k of LIMIT_KEYS) {
    const v = patch[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`${k} must be a whole number ≥ 0`);
  }
}

export function saveLimits(store: JobStoreApi, limits: SchedulerLimits): void {
  store.setSetting(LIMITS, limits);
}

export function loadPausedDevices(store: JobStoreApi): Set<string> {
  return new Set(store.getSetting<string[]>(PAUSED) ?? []);
}

export function savePausedDevices(store: JobStoreApi, devices: string[]): void {
  store.setSetting(PAUSED, devices);
}
