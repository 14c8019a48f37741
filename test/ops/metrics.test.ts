/**
 * The exposition writer (src/ops/metrics.ts) against the strict parser of test/ops/helpers.ts, and the
 * parser itself refusing what a Prometheus scraper would refuse.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startOpsServer, type OpsServerOptions } from '../../src/ops/http.ts';
import { Exposition, Histogram } from '../../src/ops/metrics.ts';
import { parsePrometheus, value } from './helpers.ts';

describe('Prometheus exposition', () => {
  it('writes HELP/TYPE, escaped labels, cumulative buckets with +Inf = count', () => {
    const h = new Histogram([0.1, 1, 10]);
    h.touch({ device: 'cuda:1' });
    for (const v of [0.05, 0.5, 0.5, 5, 50]) h.observe({ device: 'cpu' }, v);
    h.observe({ device: 'cpu' }, 2, 3); // three steps of 2 s
    const text = new Exposition()
      .gauge('reverie_jobs', 'Jobs by state.', [[{ state: 'done' }, 2], [{ state: 'queued' }, 0]])
      .gauge('reverie_odd', 'Back\\slash and\nnewline.', [[{ v: 'a"b\\c\nd' }, 1.5]])
      .counter('reverie_edits_total', 'Edits.', 7)
      .histogram('reverie_step_seconds', 'Step time.', h)
      .toString();
    const fams = parsePrometheus(text);
    expect(text).toContain('# HELP reverie_odd Back\\\\slash and\\nnewline.\n# TYPE reverie_odd gauge\nreverie_odd{v="a\\"b\\\\c\\nd"} 1.5\n');
    expect(fams.get('reverie_odd')!.samples[0]!.labels.v).toBe('a"b\\c\nd');
    expect(value(fams, 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(2);
    expect(value(fams, 'reverie_edits_total', 'reverie_edits_total')).toBe(7);
    const b = (le: string, device = 'cpu') => value(fams, 'reverie_step_seconds', 'reverie_step_seconds_bucket', { device, le });
    expect([b('0.1'), b('1'), b('10'), b('+Inf')]).toEqual([1, 3, 7, 8]);
    expect(value(fams, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })).toBe(8);
    expect(value(fams, 'reverie_step_seconds', 'reverie_step_seconds_sum', { device: 'cpu' })).toBeCloseTo(62.05);
    expect(b('+Inf', 'cuda:1')).toBe(0);
  });

  it('the strict parser refuses malformed expositions', () => {
    const bad = [
      'x 1\n', // no HELP/TYPE
      '# TYPE x gauge\nx 1\n', // no HELP
      '# HELP x h\n# TYPE x gauge\nx{a="1"} 1', // no final newline
      '# HELP x h\n# TYPE x gauge\nx{a=1} 1\n', // unquoted
      '# HELP x h\n# TYPE x gauge\nx one\n', // bad value
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
