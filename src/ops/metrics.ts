/**
 * /metrics: the Prometheus text exposition format (version 0.0.4), written here without a dependency
 * (a handful of gauges, counters and one histogram do not need prom-client's registry, and reading the
 * bot's own counters at scrape time keeps them in one place).
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
import type { Scheduler } from '../jobs/scheduler.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import { JOB_STATES, type JobRunner, type SchedulerEventMap } from '../jobs/types.ts';
import type { BotMetrics } from '../bot/context.ts';
import type { PresenterCounters } from '../bot/presenter.ts';
import { runnerHealth, type GatewayLike, gatewayHealth } from './health.ts';

export type Labels = Record<string, string>;

/** Upper bounds (seconds) of the step time buckets: tiny CPU jobs to big ones. */
export const STEP_SECONDS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (!keys.length) return '';
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
}

/** Builds one exposition: each family's HELP and TYPE, then its samples. */
export class Exposition {
  private readonly lines: string[] = [];
  private readonly names = new Set<string>();

  private header(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
    if (this.names.has(name)) throw new Error(`metric family ${name} written twice`);
    this.names.add(name);
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  }

  gauge(name: string, help: string, samples: Array<[Labels, number]> | number): this {
    this.header(name, 'gauge', help);
    for (const [l, v] of typeof samples === 'number' ? [[{}, samples] as [Labels, number]] : samples) this.lines.push(`${name}${labelText(l)} ${formatValue(v)}`);
    return this;
  }

  counter(name: string, help: string, samples: Array<[Labels, number]> | number): this {
    if (!name.endsWith('_total')) throw new Error(`counter ${name} must end in _total`);
    this.header(name, 'counter', help);
    for (const [l, v] of typeof samples === 'number' ? [[{}, samples] as [Labels, number]] : samples) this.lines.push(`${name}${labelText(l)} ${formatValue(v)}`);
    return this;
  }

  histogram(name: string, help: string, h: Histogram): this {
    this.header(name, 'histogram', help);
    for (const s of h.series()) {
      let cum = 0;
      h.buckets.forEach((le, i) => {
        cum += s.counts[i]!;
        this.lines.push(`${name}_bucket${labelText({ ...s.labels, le: formatValue(le) })} ${cum}`);
      });
      this.lines.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      this.lines.push(`${name}_sum${labelText(s.labels)} ${formatValue(s.sum)}`);
      this.lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
    }
    return this;
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

interface Series {
  labels: Labels;
  /** per bucket (not cumulative); observations above the last bound are only in count */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly data = new Map<string, Series>();
  constructor(readonly buckets: readonly number[]) {
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i]! > buckets[i - 1]!)) throw new Error('histogram buckets must increase');
  }

  /** Makes the series exist (all zero) so it is exported before its first observation. */
  touch(labels: Labels): Series {
    const key = JSON.stringify(Object.entries(labels).sort());
    let s = this.data.get(key);
    if (!s) this.data.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    return s;
  }

  observe(labels: Labels, v: number, times = 1): void {
    if (!Number.isFinite(v) || v < 0 || times <= 0) return;
    const s = this.touch(labels);
    const i = this.buckets.findIndex((le) => v <= le);
    if (i >= 0) s.counts[i]! += times;
    s.sum += v * times;
    s.count += times;
  }

  series(): Series[] {
    return [...this.data.values()];
  }
}

export interface MetricsSources {
  store: JobStoreApi;
  scheduler: Scheduler;
  presenter: { counters: PresenterCounters };
  metrics: BotMetrics;
  runners: readonly JobRunner[];
  client?: GatewayLike;
}

/** Collects what needs watching over time (step times, finished jobs) and renders /metrics on demand. */
export class MetricsCollector {
  readonly stepSeconds = new Histogram(STEP_SECONDS_BUCKETS);
  readonly finished: Record<'done' | 'failed' | 'cancelled', number> = { done: 0, failed: 0, cancelled: 0 };
  /** last progress per running job: when and at which step */
  private readonly lastProgress = new Map<string, { t: number; step: number }>();
  private readonly listeners: Array<[keyof SchedulerEventMap, (...a: never[]) => void]> = [];

  constructor(private readonly src: MetricsSources) {
    for (const r of src.runners) this.stepSeconds.touch({ device: r.device });
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
        this.stepSeconds.observe({ device: e.device }, (now - prev.t) / 1000 / n, n);
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

  private jobsByState(): Array<[Labels, number]> | undefined {
    const { store } = this.src;
    if (!store.isOpen) return undefined;
    const counts = store.countByState();
    return JOB_STATES.map((s) => [{ state: s }, counts[s]]);
  }

  render(): string {
    const { scheduler, presenter, metrics, runners, client } = this.src;
    const x = new Exposition();
    const byState = this.jobsByState();
    if (byState) x.gauge('reverie_jobs', 'Jobs in the store by state.', byState);
    const waiting = scheduler.waitingCount;
    x.gauge('reverie_jobs_waiting', 'Jobs waiting to start (one queue shared by all devices; a job binds to a device when it starts).', waiting);
    const status = scheduler.devicesStatus();
    x.gauge(
      'reverie_queue_length',
      'Jobs in front of a device: those running on it plus the waiting jobs it may take (all of them unless the device is paused).',
      status.map((d) => [{ device: d.device }, d.running.length + (d.paused ? 0 : waiting)]),
    );
    x.gauge('reverie_device_running', 'Jobs running on the device.', status.map((d) => [{ device: d.device }, d.running.length]));
    x.gauge('reverie_device_paused', '1 while the device is paused by /reverie pause.', status.map((d) => [{ device: d.device }, d.paused ? 1 : 0]));
    x.gauge('reverie_worker_up', "1 while the device's engine worker is alive and has its models loaded.", runners.map((r) => [{ device: r.device }, runnerHealth(r).ok ? 1 : 0]));
    if (client) x.gauge('reverie_gateway_up', '1 while the Discord gateway connection is ready.', gatewayHealth(client).ok ? 1 : 0);
    x.histogram('reverie_step_seconds', 'Wall time per optimisation step, by device.', this.stepSeconds);
    x.counter('reverie_jobs_finished_total', 'Jobs that ended since the process started, by final state.', Object.entries(this.finished).map(([s, n]) => [{ state: s }, n]));
    x.counter('reverie_discord_edits_total', 'Job message edits sent to Discord.', presenter.counters.edits);
    x.counter('reverie_discord_edit_errors_total', 'Job message edits Discord refused or that failed.', presenter.counters.editErrors);
    x.counter('reverie_discord_messages_total', 'Job messages posted.', presenter.counters.messagesSent);
    x.counter('reverie_discord_thread_posts_total', 'Snapshots posted to job threads.', presenter.counters.threadPosts);
    x.counter('reverie_discord_rate_limited_total', '429 (rate limited) responses received from Discord; discord.js waited and retried.', metrics.rateLimited);
    x.counter(
      'reverie_worker_restarts_total',
      'Engine workers that died and were replaced, by device.',
      runners.map((r) => [{ device: r.device }, Math.max(metrics.workerRestarts[r.device] ?? 0, runnerHealth(r).restarts)]),
    );
    return x.toString();
  }
}
