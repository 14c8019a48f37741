/**
 * What command, button and reaction handlers get: the job layer, the presenter, and run-time limits.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { AttachmentPolicy } from './attachments.ts';
import type { DiskSpace } from '../jobs/admission.ts';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import type { Transcriber } from '../jobs/transcriber.ts';
import type { DiscordPort } from './discord-port.ts';
import type { Presenter } from './presenter.ts';
import type { ClusterRunner } from '../jobs/redis/cluster-runner.ts';

export interface BotContext {
  config: Config;
  scheduler: Scheduler;
  /** voice prompts: speech to text on the devices */
  transcriber: Transcriber;
  store: JobStoreApi;
  presenter: Presenter;
  port: DiscordPort;
  limits: LimitsStore;
  defaults: ImagineDefaults;
  attachments: AttachmentPolicy;
  /** where downloaded attachments go */
  uploadsDir: string;
  log: Logger;
  /** counters for /metrics */
  metrics: BotMetrics;
  /** free space of the data folder against MIN_FREE_MB; undefined (or absent) when the guard is off */
  diskSpace?: () => DiskSpace | undefined;
  /** distributed mode (REDIS_URL): the workers and their devices */
  cluster?: ClusterRunner | undefined;
}

/** Counters for the operations endpoint (/metrics); the presenter has its own (edits sent...). */
export type { BotMetrics } from '../observability/counters.ts';
import type { BotMetrics } from '../observability/counters.ts';

/** Limits an admin can change at run time (/reverie limits), with the config's values as defaults. */
export interface BotLimits {
  maxSteps: number;
  maxSize: number;
}

/** What /imagine fills in when the user leaves it out (from the config). */
export interface ImagineDefaults {
  defaultSteps: number;
  defaultSize: number;
  defaultCutn: number;
  saveEvery: number;
}

const KEY = 'bot.limits';

/** Max steps and size: the config's values, overridden at run time by /reverie limits (persisted). */
export class LimitsStore {
  constructor(
    private readonly store: JobStoreApi,
    private readonly config: Pick<Config, 'maxSteps' | 'maxSize'>,
  ) {}

  get(): BotLimits {
    const saved = this.store.isOpen ? (this.store.getSetting<Partial<BotLimits>>(KEY) ?? {}) : {};
    return { maxSteps: saved.maxSteps ?? this.config.maxSteps, maxSize: saved.maxSize ?? this.config.maxSize };
  }

  set(patch: Partial<BotLimits>): BotLimits {
    const saved = this.store.getSetting<Partial<BotLimits>>(KEY) ?? {};
    const next = { ...saved, ...Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) };
    this.store.setSetting(KEY, next);
    return this.get();
  }
}
