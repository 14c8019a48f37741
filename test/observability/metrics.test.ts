/**
 * /metrics as prom-client renders it (src/observability/metrics.ts) against the strict parser of test/observability/helpers.ts,
 * and the parser itself refusing what a Prometheus scraper would refuse.
 */
import net from 'node:net';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServerOptions } from '../../src/observability/http.ts';
import { MetricsCollector, type MetricsSources } from '../../src/observability/metrics.ts';
import { parsePrometheus, value } from './helpers.ts';

function sources(over: Partial<MetricsSources> = {}): MetricsSources & { scheduler: EventEmitter } {
  const scheduler = Object.assign(new EventEmitter(), {
    waitingCount: 2,
    devicesStatus: () => [
      { device: 'cpu', running: [{}], paused: false },
      { device: 'a"b\\c\nd', running: [], paused: true },
    ],
  });
  return {
    store: { isOpen: true, countByState: () => ({ queued: 2, running: 1, paused: 0, done: 5, failed: 1, cancelled: 0 }) },
    scheduler,
    presenter: { counters: { edits: 7, editErrors: 1, messagesSent: 3, threadPosts: 2 } },
    metrics: { rateLimited: 4, workerRestarts: { cpu: 1 } },
    runners: [{ device: 'cpu', state: 'ready' }, { device: 'a"b\\c\nd', state: 'starting' }],
    ...over,
  } as unknown as MetricsSources & { scheduler: EventEmitter };
}

describe('Prometheus exposition (prom-client)', () => {
  it('gauges, counters and the step histogram read at scrape time, escaped labels, default process metrics', async () => {
    const src = sources();
    const c = new MetricsCollector(src);
    c.attach();
    const job = { id: 'j1' };
    src.scheduler.emit('started', { job });
    src.scheduler.emit('progress', { job, device: 'cpu', step: 1, itPerSec: 2 });
    src.scheduler.emit('progress', { job, device: 'cpu', step: 4, itPerSec: 2 });
    src.scheduler.emit('done', { job });
    const text = await c.render();
    const fams = parsePrometheus(text);
    expect(value(fams, 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(5);
    expect(value(fams, 'reverie_jobs_waiting', 'reverie_jobs_waiting')).toBe(2);
    expect(value(fams, 'reverie_queue_length', 'reverie_queue_length', { device: 'cpu' })).toBe(3);
    expect(value(fams, 'reverie_device_paused', 'reverie_device_paused', { device: 'a"b\\c\nd' })).toBe(1);
    expect(text).toContain('reverie_device_paused{device="a\\"b\\\\c\\nd"} 1');
    expect(value(fams, 'reverie_worker_up', 'reverie_worker_up', { device: 'cpu' })).toBe(1);
    expect(value(fams, 'reverie_discord_edits_total', 'reverie_discord_edits_total')).toBe(7);
    expect(value(fams, 'reverie_discord_rate_limited_total', 'reverie_discord_rate_limited_total')).toBe(4);
    expect(value(fams, 'reverie_jobs_finished_total', 'reverie_jobs_finished_total', { state: 'done' })).toBe(1);
    expect(value(fams, 'reverie_worker_restarts_total', 'reverie_worker_restarts_total', { device: 'cpu' })).toBe(1);
    // 1 step from the first report (0.5 s), then 3 steps spread over the time between the reports
    expect(value(fams, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })).toBe(4);
    expect(value(fams, 'reverie_step_seconds', 'reverie_step_seconds_bucket', { device: 'cpu', le: '+Inf' })).toBe(4);
    expect(value(fams, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'a"b\\c\nd' })).toBe(0);
    expect(fams.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(fams.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect(c.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    c.detach();
  });

  it('a closed store leaves reverie_jobs without samples; two collectors do not share series', async () => {
    const a = new MetricsCollector(sources({ store: { isOpen: false } as never }));
    const b = new MetricsCollector(sources());
    expect(parsePrometheus(await a.render()).get('reverie_jobs')?.samples ?? []).toHaveLength(0);
    expect(value(parsePrometheus(await b.render()), 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(5);
  });

  it('the strict parser refuses malformed expositions', () => {
    const bad = [
      'x 1\n', // no HELP/TYPE
      '# TYPE x gauge\nx 1\n', // no HELP
      '# HELP x h\n# TYPE x gauge\nx{a="1"} 1', // no final newline
      '# HELP x h\n# TYPE x gauge\nx{a=1} 1\n', // unquoted
      '# HELP x h\n# TYPE x gauge\nx one\n', // bad value
      '# HELP x h\n# TYPE x gauge\nx Infinite\n', // not a Go float
      '# HELP x h\n# TYPE x counter\nx 1\n', // counter without _total
      '# HELP x_total h\n# TYPE x_total counter\nx_total 1\nx_total 2\n', // same series twice
      '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n', // not cumulative
      '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n', // +Inf ≠ count
      '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', // no +Inf
      '# HELP a h\n# TYPE a gauge\na 1\n# HELP b h\n# TYPE b gauge\nb 1\na{x="1"} 2\n', // a split in two
    ];
    for (const t of bad) expect(() => parsePrometheus(t), t).toThrow();
  });
});

describe('ops server', () => {
  it('a port already in use fails with one line naming HTTP_PORT', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const opts = { port, runners: [], scheduler: { on() {}, off() {} } } as unknown as OpsServerOptions;
      await expect(startOpsServer(opts)).rejects.toThrow(`HTTP_PORT ${port} is already in use on 127.0.0.1: pick another port or unset HTTP_PORT`);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
