/**
 * The scheduler's devices: one runner each, a p-queue bounding how many jobs run at once, the paused
 * flag (persisted), and the measured speed (seconds per unit step).
 */
import PQueue from 'p-queue';
import type { DeviceLoad } from './fairness.ts';
import { loadPausedDevices, savePausedDevices } from './scheduler-settings.ts';
import type { JobStoreApi } from './store-api.ts';
import type { JobRunner } from './types.ts';

export interface DeviceStatus { device: string; paused: boolean; concurrency: number; running: string[]; secPerUnitStep: number; measured: boolean }

export interface Device {
  name: string;
  runner: JobRunner;
  queue: PQueue;
  concurrency: number;
  paused: boolean;
  /** ids of the jobs dispatched to it that have not settled */
  active: Set<string>;
  secPerUnitStep: number;
  measured: boolean;
}

export class Devices {
  private readonly byName = new Map<string, Device>();

  constructor(
    private readonly store: JobStoreApi,
    runners: readonly JobRunner[],
    concurrency: Record<string, number> = {},
    private readonly defaultSpeed: (device: string) => number,
  ) {
    if (!runners.length) throw new Error('Scheduler needs at least one runner (device)');
    const pausedSaved = loadPausedDevices(store);
    for (const runner of runners) {
      if (this.byName.has(runner.device)) throw new Error(`two runners for device ${runner.device}`);
      const n = Math.max(1, concurrency[runner.device] ?? 1);
      this.byName.set(runner.device, {
        name: runner.device,
        runner,
        queue: new PQueue({ concurrency: n }),
        concurrency: n,
        paused: pausedSaved.has(runner.device),
        active: new Set(),
        secPerUnitStep: 0,
        measured: false,
      });
      this.refreshSpeed(runner.device);
    }
  }

  all(): Device[] {
    return [...this.byName.values()];
  }

  get(name: string): Device | undefined {
    return this.byName.get(name);
  }

  /** Pauses or resumes one device or all, and saves which are paused. */
  setPaused(paused: boolean, device?: string): void {
    const ds = device === undefined ? this.all() : [this.byName.get(device)];
    if (ds.some((d) => !d)) throw new Error(`unknown device ${device}`);
    for (const d of ds) d!.paused = paused;
    savePausedDevices(this.store, this.all().filter((d) => d.paused).map((d) => d.name));
  }

  /** How many jobs may run at once on a device (0 = none: a cluster with no live workers). */
  setConcurrency(device: string, n: number): void {
    const d = this.byName.get(device);
    if (!d) throw new Error(`unknown device ${device}`);
    d.concurrency = Math.max(0, Math.floor(n));
    d.queue.concurrency = Math.max(1, d.concurrency);
  }

  /** Reads the device's median measured speed from the store (the default until measured). */
  refreshSpeed(device: string): void {
    const d = this.byName.get(device)!;
    const m = this.store.secPerUnitStep(device);
    [d.secPerUnitStep, d.measured] = m !== undefined ? [m, true] : [this.defaultSpeed(device), false];
  }

  status(): DeviceStatus[] {
    return this.all().map((d) => ({
      device: d.name,
      paused: d.paused,
      concurrency: d.concurrency,
      running: [...d.active],
      secPerUnitStep: d.secPerUnitStep,
      measured: d.measured,
    }));
  }

  /** The devices as fairness.ts sees them; `progress` gives a running job's request and steps done (undefined once cancelled). */
  loads(progress: (jobId: string) => DeviceLoad['running'][number] | undefined): DeviceLoad[] {
    return this.all().map((d) => ({
      device: d.name,
      secPerUnitStep: d.secPerUnitStep,
      concurrency: Math.max(1, d.concurrency), // ETAs of a cluster with no live worker yet: as if one joins
      paused: d.paused,
      running: [...d.active].map(progress).filter((r) => r !== undefined),
    }));
  }

  /** For fairness.pickDevice. */
  slots(): { device: string; secPerUnitStep: number; paused: boolean; concurrency: number; busy: number }[] {
    return this.all().map((d) => ({ device: d.name, secPerUnitStep: d.secPerUnitStep, paused: d.paused, concurrency: d.concurrency, busy: d.active.size }));
  }
}
