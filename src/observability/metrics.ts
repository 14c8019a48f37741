/**
 * /metrics with prom-client (the ecosystem's exposition: correct escaping and types, and the default
 * process and Node.js metrics: CPU, memory, event-loop lag, GC). Reverie's own series are read from
 * the bot's counters and the store at scrape time, so each number is kept in one place:
 *
 *   reverie_jobs{state}                      gauge    jobs in the store by state
 *   reverie_jobs_waiting                     gauge    jobs waiting to start (one queue, shared by all devices)
 *   reverie_queue_length{device}             gauge    jobs running on the device + waiting jobs it may take
 *   reverie_device_running{device}           gauge    jobs running on the device
 *   reverie_device_paused{device}            gauge    1 while /reverie pause holds the device
 *   reverie_worker_up{device}                gauge    1 while the device's engine worker is ready
 *   reverie_gateway_up                       gauge    1 while the Discord gateway connection is ready
 *   reverie_step_seconds{device}             histogram  wall time per optimisation step
 *   reverie_jobs_finished_total{state}       counter  jobs that ended (done, failed, cancelled) since start
 *   reverie_discord_edits_total              counter  message edits sent
 *   reverie_discord_edit_errors_total        counter  message edits that failed
 *   reverie_discord_messages_total           counter  messages posted
 *   reverie_discord_thread_posts_total       counter  snapshots posted to threads
 *   reverie_discord_rate_limited_total       counter  429s received from Discord (discord.js waited and retried)
 *   reverie_worker_restarts_total{device}    counter  engine workers that died and were replaced
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import { JOB_STATES, type JobRunner, type SchedulerEventMap } from '../jobs/types.ts';
import type { BotMetrics, PresenterCounters } from './counters.ts';
import { runnerHealth, type GatewayLike, gatewayHealth } from './health.ts';

export type Labels = Record<string, string>;

/** Upper bounds (seconds) of the step time buckets: tiny CPU jobs to big ones. */
export const STEP_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsSources {
  store: JobStoreApi;
  scheduler: Scheduler;
  presenter: { counters: PresenterCounters };
  metrics: BotMetrics;
  runners: readonly JobRunner[];
  client?: GatewayLike;
}

type Read = () => Array<[Labels, number]> | number | undefined;

/** Collects what needs watching over time (step times, finished jobs) and renders /metrics on demand. */
export class MetricsCollector {
  /** one registry per bot (not prom-client's global one), so several bots in one process stay apart */
  readonly registry = new Registry();
  readonly stepSeconds: Histogram<string>;
  readonly finished: Record<'done' | 'failed' | 'cancelled', number> = { done: 0, failed: 0, cancelled: 0 };
  /** last progress per running job: when and at which step */
  private readonly lastProgress = new Map<string, { t: number; step: number }>();
  private readonly listeners: Array<[keyof SchedulerEventMap, (...a: never[]) => void]> = [];

  constructor(private readonly src: MetricsSources) {
    collectDefaultMetrics({ register: this.registry });
    this.stepSeconds = new Histogram({
      name: 'reverie_step_seconds',
      help: 'Wall time per optimisation step, by device.',
      labelNames: ['device'],
      buckets: STEP_SECONDS_BUCKETS,
      registers: [this.registry],
    });
    for (const r of src.runners) this.stepSeconds.zero({ device: r.device });
    this.defineSeries();
  }

  private gauge(name: string, help: string, labelNames: string[], read: Read): void {
    new Gauge({ name, help, labelNames, registers: [this.registry], collect() {
      const v = read();
      this.reset();
      if (typeof v === 'number') this.set(v);
      else for (const [l, n] of v ?? []) this.set(l, n);
    } });
  }

  private counter(name: string, help: string, labelNames: string[], read: Read): void {
    new Counter({ name, help, labelNames, registers: [this.registry], collect() {
      const v = read();
      this.reset();
      if (typeof v === 'number') this.inc(v);
      else for (const [l, n] of v ?? []) this.inc(l, n);
    } });
  }

  private defineSeries(): void {
    const { store, scheduler, presenter, metrics, runners, client } = this.src;
    const devices = () => scheduler.devicesStatus();
    this.gauge('reverie_jobs', 'Jobs in the store by state.', ['state'], () => {
      if (!store.isOpen) return undefined;
      const counts = store.countByState();
      return JOB_STATES.map((s) => [{ state: s }, counts[s]]);
    });
    this.gauge('reverie_jobs_waiting', 'Jobs waiting to start (one queue shared by all devices; a job binds to a device when it starts).', [], () => scheduler.waitingCount);
    this.gauge(
      'reverie_queue_length',
      'Jobs in front of a device: those running on it plus the waiting jobs it may take (all of them unless the device is paused).',
      ['device'],
      () => devices().map((d) => [{ device: d.device }, d.running.length + (d.paused ? 0 : scheduler.waitingCount)]),
    );
    this.gauge('reverie_device_running', 'Jobs running on the device.', ['device'], () => devices().map((d) => [{ device: d.device }, d.running.length]));
    this.gauge('reverie_device_paused', '1 while the device is paused by /reverie pause.', ['device'], () => devices().map((d) => [{ device: d.device }, d.paused ? 1 : 0]));
    this.gauge("reverie_worker_up", "1 while the device's engine worker is alive and has its models loaded.", ['device'], () =>
      runners.map((r) => [{ device: r.device }, runnerHealth(r).ok ? 1 : 0]),
    );
    if (client) this.gauge('reverie_gateway_up', '1 while the Discord gateway connection is ready.', [], () => (gatewayHealth(client).ok ? 1 : 0));
    this.counter('reverie_jobs_finished_total', 'Jobs that ended since the process started, by final state.', ['state'], () =>
      Object.entries(this.finished).map(([s, n]) => [{ state: s }, n]),
    );
    this.counter('reverie_discord_edits_total', 'Job message edits sent to Discord.', [], () => presenter.counters.edits);
    this.counter('reverie_discord_edit_errors_total', 'Job message edits Discord refused or that failed.', [], () => presenter.counters.editErrors);
    this.counter('reverie_discord_messages_total', 'Job messages posted.', [], () => presenter.counters.messagesSent);
    this.counter('reverie_discord_thread_posts_total', 'Snapshots posted to job threads.', [], () => presenter.counters.threadPosts);
    this.counter('reverie_discord_rate_limited_total', '429 (rate limited) responses received from Discord; discord.js waited and retried.', [], () => metrics.rateLimited);
    this.counter('reverie_worker_restarts_total', 'Engine workers that died and were replaced, by device.', ['device'], () =>
      runners.map((r) => [{ device: r.device }, Math.max(metrics.workerRestarts[r.device] ?? 0, runnerHealth(r).restarts)]),
    );
  }

  attach(): void {
    const on = <K extends keyof SchedulerEventMap>(name: K, fn: (...a: SchedulerEventMap[K]) => void): void => {
      this.src.scheduler.on(name, fn as never);
      this.listeners.push([name, fn as never]);
    };
    on('started', (e) => this.lastProgress.delete(e.job.id));
    on('progress', (e) => {
      const now = performance.now();
      const prev = this.lastProgress.get(e.job.id);
      this.lastProgress.set(e.job.id, { t: now, step: e.step });
      if (prev && e.step > prev.step) {
        // wall time between two reports, spread over the steps they cover
        const n = e.step - prev.step;
        for (let i = 0; i < n; i++) this.stepSeconds.observe({ device: e.device }, (now - prev.t) / 1000 / n);
      } else if (!prev && e.itPerSec > 0) {
        // the first report of a run: the engine's own measure of the step(s) so far
        this.stepSeconds.observe({ device: e.device }, 1 / e.itPerSec);
      }
    });
    const end = (state: 'done' | 'failed' | 'cancelled') => (e: { job: { id: string } }) => {
      this.finished[state]++;
      this.lastProgress.delete(e.job.id);
    };
    on('done', end('done'));
    on('failed', end('failed'));
    on('cancelled', end('cancelled'));
  }

  detach(): void {
    for (const [name, fn] of this.listeners) this.src.scheduler.off(name, fn as never);
    this.listeners.length = 0;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}
