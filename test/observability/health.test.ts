/**
 * /healthz and /metrics of an in-process bot (startBot against the fake Discord) painting with the real
 * engine (one worker thread, tiny parity models): 200 when all is up, 503 naming the device while its
 * worker is dead and being replaced, 200 again after; the metrics parse strictly and move with a job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { fixture } from '../helpers/fixtures.ts';
import { replyMessage, startHarness, str, int, user, waitForContent, type Harness } from '../bot/helpers/harness.ts';
import { freePort, get, parsePrometheus, value, type Family } from './helpers.ts';

describe('operations endpoint (in process, real engine)', () => {
  let h: Harness;
  let engine: EngineRunner;
  let base: string;
  const metrics = async (): Promise<Map<string, Family>> => {
    const r = await get(`${base}/metrics`);
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parsePrometheus(r.body);
  };
  const health = async () => {
    const r = await get(`${base}/healthz`);
    return { status: r.status, body: JSON.parse(r.body) as { ok: boolean; reasons: string[]; devices: Record<string, { state: string; restarts: number }>; gateway: { ok: boolean; status: string }; store: { ok: boolean } } };
  };

  beforeAll(async () => {
    engine = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1, timelapse: false });
    const port = await freePort();
    h = await startHarness({ runners: [engine], env: { HTTP_PORT: String(port), DEFAULT_CUTN: '4', SAVE_EVERY: '2' } });
    base = `http://127.0.0.1:${port}`;
    expect(h.bot.ops?.url).toBe(base);
    await engine.whenReady();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('/healthz is 200 with every check when the gateway, the store and the worker are up; other paths 404', async () => {
    const r = await health();
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ ok: true, reasons: [], gateway: { ok: true, status: 'ready' }, store: { ok: true }, devices: { cpu: { ok: true, state: 'ready', restarts: 0 } } });
    // the write check was rolled back
    expect(h.bot.store.getSetting('ops.healthz')).toBeUndefined();
    expect((await get(`${base}/nope`)).status).toBe(404);
  });

  it('/metrics parses as Prometheus text and its counters move with a job (and a 429)', async () => {
    const before = await metrics();
    for (const name of ['reverie_jobs', 'reverie_queue_length', 'reverie_step_seconds', 'reverie_discord_edits_total', 'reverie_discord_rate_limited_total', 'reverie_worker_restarts_total'])
      expect(before.has(name), name).toBe(true);
    expect(value(before, 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(0);
    expect(value(before, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })).toBe(0);
    expect(value(before, 'reverie_worker_up', 'reverie_worker_up', { device: 'cpu' })).toBe(1);
    expect(value(before, 'reverie_gateway_up', 'reverie_gateway_up')).toBe(1);
    const edits0 = value(before, 'reverie_discord_edits_total', 'reverie_discord_edits_total')!;

    const { fake } = h;
    fake.rateLimitNext({ method: 'PATCH', route: '/channels/:channel/messages/:message', retryAfter: 0.2, count: 1 });
    const i = fake.slashCommand({ name: 'imagine', user: user(fake, 'alice'), options: [str('prompt', 'a small red boat'), int('steps', 3), int('size', 64)] });
    const msg = await replyMessage(fake, i.id);
    await waitForContent(fake, msg.id, /Finished/, 60_000);
    await h.bot.presenter.flush();

    const after = await metrics();
    expect(value(after, 'reverie_jobs', 'reverie_jobs', { state: 'done' })).toBe(1);
    expect(value(after, 'reverie_jobs', 'reverie_jobs', { state: 'queued' })).toBe(0);
    expect(value(after, 'reverie_jobs_finished_total', 'reverie_jobs_finished_total', { state: 'done' })).toBe(1);
    expect(value(after, 'reverie_queue_length', 'reverie_queue_length', { device: 'cpu' })).toBe(0);
    // one observation per step
    expect(value(after, 'reverie_step_seconds', 'reverie_step_seconds_count', { device: 'cpu' })).toBe(3);
    expect(value(after, 'reverie_step_seconds', 'reverie_step_seconds_sum', { device: 'cpu' })).toBeGreaterThan(0);
    const edits1 = value(after, 'reverie_discord_edits_total', 'reverie_discord_edits_total')!;
    expect(edits1).toBeGreaterThan(edits0);
    expect(edits1).toBe(h.bot.presenter.counters.edits);
    const got429 = fake.requests.filter((r) => r.status === 429).length;
    expect(got429).toBeGreaterThanOrEqual(1);
    expect(value(after, 'reverie_discord_rate_limited_total', 'reverie_discord_rate_limited_total')).toBe(h.bot.ctx.metrics.rateLimited);
    expect(h.bot.ctx.metrics.rateLimited).toBeGreaterThanOrEqual(1);
  });

  it('/healthz turns 503 naming the device when its worker dies, and 200 when the new one is ready', async () => {
    engine.crashForTest();
    const seen: Array<{ status: number; reasons: string[] }> = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await health();
      seen.push({ status: r.status, reasons: r.body.reasons });
      if (r.status === 200 && seen.some((s) => s.status === 503)) break;
      if (Date.now() > deadline) throw new Error(`no 503 then 200 within 60 s: ${JSON.stringify(seen.slice(-3))}`);
      await new Promise((res) => setTimeout(res, 5));
    }
    const down = seen.find((s) => s.status === 503)!;
    expect(down.reasons).toHaveLength(1);
    expect(down.reasons[0]).toMatch(/^the engine worker on cpu died \(.*simulated engine crash.*\); a new one is loading the models$/);
    const r = await health();
    expect(r.body.devices.cpu).toMatchObject({ ok: true, state: 'ready', restarts: 1 });
    const m = await metrics();
    expect(value(m, 'reverie_worker_restarts_total', 'reverie_worker_restarts_total', { device: 'cpu' })).toBe(1);
    expect(value(m, 'reverie_worker_up', 'reverie_worker_up', { device: 'cpu' })).toBe(1);
  });

  it('/healthz is 503 once the bot stops (store closed, gateway down)', async () => {
    const ops = h.bot.ops!;
    // keep the server while the rest stops, to look at the report
    const close = ops.close;
    (ops as { close: () => Promise<void> }).close = async () => undefined;
    await h.stopBot();
    const r = await health();
    expect(r.status).toBe(503);
    expect(r.body.reasons).toEqual(expect.arrayContaining(['the bot is stopping', 'the job store is closed', expect.stringMatching(/^the Discord gateway is not connected/), 'the engine worker on cpu is closed']));
    await close();
    await expect(get(`${base}/healthz`, 1000)).rejects.toThrow();
  });
});
