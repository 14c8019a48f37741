import { describe, expect, it } from 'vitest';
import { CoalescingEditor } from '../../src/bot/editor.ts';
import { buttonId, formatDuration, parseButtonId, progressBar, renderComponents, renderContent } from '../../src/bot/format.ts';
import type { JobRecord } from '../../src/jobs/types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('CoalescingEditor', () => {
  it('sends only the newest state, one at a time, at least minInterval apart', async () => {
    let state = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const sent: { v: number; start: number; end: number }[] = [];
    const ed = new CoalescingEditor(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const start = Date.now();
      const v = state;
      await sleep(30);
      sent.push({ v, start, end: Date.now() });
      inFlight--;
    }, 60);
    for (let i = 1; i <= 40; i++) {
      state = i;
      ed.request();
      await sleep(5);
    }
    await ed.idle();
    expect(maxInFlight).toBe(1);
    expect(sent.length).toBeLessThan(10);
    expect(sent[sent.length - 1]!.v).toBe(40);
    for (let k = 1; k < sent.length; k++) expect(sent[k]!.start - sent[k - 1]!.end).toBeGreaterThanOrEqual(55);
  });

  it('urgent updates skip the interval but never overtake the edit in flight', async () => {
    const log: string[] = [];
    let state = 'a';
    const ed = new CoalescingEditor(async () => {
      const s = state;
      log.push(`start ${s}`);
      await sleep(40);
      log.push(`end ${s}`);
    }, 10_000);
    ed.request();
    await sleep(5);
    state = 'b';
    ed.request(); // would wait 10 s
    state = 'final';
    ed.request(true);
    const t0 = Date.now();
    await ed.idle();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(log).toEqual(['start a', 'end a', 'start final', 'end final']);
  });

  it('survives a failing send and keeps going; close() drops what is pending', async () => {
    let n = 0;
    const ed = new CoalescingEditor(async () => {
      n++;
      if (n === 1) throw new Error('boom');
    }, 0);
    ed.request();
    await ed.idle();
    ed.request();
    await ed.idle();
    expect(n).toBe(2);
    const ed2 = new CoalescingEditor(async () => void n++, 10_000);
    ed2.request();
    await ed2.idle();
    ed2.request();
    ed2.close();
    await ed2.idle();
    expect(n).toBe(3);
  });
});

describe('message format', () => {
  const job = {
    id: 'abc123',
    userId: '123456789012345678',
    request: { prompt: 'a *bold* fox', steps: 200, width: 256, height: 256, seed: 42, cutn: 32 },
    step: 50,
  } as unknown as JobRecord;

  it('renders each phase', () => {
    expect(renderContent({ job, phase: 'queued', position: 3, etaSec: 125 })).toBe(
      '**a \\*bold\\* fox** — <@123456789012345678>\n⏳ Queued: #3 in line · starts in ~2 min 5 s',
    );
    expect(renderContent({ job, phase: 'queued', position: 1, etaSec: 0 })).toMatch(/next in line$/);
    const running = renderContent({ job, phase: 'running', device: 'cpu', progress: { step: 50, steps: 200, itPerSec: 0.5, etaSec: 300 } });
    expect(running).toContain('🎨 `█████░░░░░░░░░░░░░░░` 25% · step 50/200 · 2.0 s/it · ~5 min left');
    expect(running).toContain('-# on cpu');
    expect(renderContent({ job, phase: 'done', seconds: 3725 })).toMatch(/✅ Finished in 1 h 2 min · seed `42` · 256×256 · 200 steps · 32 cutouts/);
    expect(renderContent({ job, phase: 'failed', error: 'out of memory' })).toMatch(/⚠️ This one failed: out of memory/);
    expect(renderContent({ job, phase: 'cancelled', cancelledBy: '9' })).toMatch(/❌ Cancelled by <@9> at step 50\/200\./);
    expect(renderContent({ job, phase: 'running', restarting: true, progress: { step: 50, steps: 200, itPerSec: 1, etaSec: 1 } })).toMatch(/Paused at step 50\/200/);
  });

  it('buttons carry the job id and parse back', () => {
    const rows = renderComponents({ job, phase: 'done' }) as { components: { custom_id: string }[] }[];
    expect(rows[0]!.components.map((c) => c.custom_id)).toEqual(['reverie:reroll:abc123', 'reverie:vary:abc123', 'reverie:delete:abc123']);
    expect(parseButtonId(buttonId('cancel', 'abc123'))).toEqual({ action: 'cancel', jobId: 'abc123' });
    expect(parseButtonId('reverie:explode:abc')).toBeUndefined();
    expect(parseButtonId('other:reroll:abc')).toBeUndefined();
  });

  it('bars and durations', () => {
    expect(progressBar(0)).toBe('░'.repeat(20));
    expect(progressBar(1)).toBe('█'.repeat(20));
    expect(progressBar(NaN)).toBe('░'.repeat(20));
    expect(formatDuration(4)).toBe('4 s');
    expect(formatDuration(60)).toBe('1 min');
    expect(formatDuration(7200)).toBe('2 h');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
