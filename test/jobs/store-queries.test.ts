import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JobStoreApi } from '../../src/jobs/store-api.ts';
import { JobStore } from '../../src/jobs/store.ts';
import { newJob, rig, tmpDir } from './helpers.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 10, 12); // noon, 10 January 2026

describe('JobStore named queries (JobStoreApi)', () => {
  it('counts jobs by state, per day, and the waits before they started', () => {
    const s: JobStoreApi & JobStore = new JobStore({ dataDir: tmpDir(), durable: false });
    expect(s.countByState()).toEqual({ queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 });
    const a = s.insertJob(newJob('A'), 'a', T0 - DAY);
    const b = s.insertJob(newJob('B'), 'b', T0);
    const c = s.insertJob(newJob('C'), 'c', T0);
    s.insertJob(newJob('D'), 'd', T0 - 30 * DAY); // before the window
    s.markRunning(a.id, 'cpu', T0 - DAY + 4000);
    s.markFailed(a.id, 'x');
    s.markRunning(b.id, 'cpu', T0 + 10_000);
    s.markCancelled(c.id);
    expect(s.countByState()).toEqual({ queued: 1, running: 1, done: 0, failed: 1, cancelled: 1 });
    expect(s.jobsPerDay(T0 - 7 * DAY)).toEqual([
      { day: '2026-01-09', total: 1, done: 0, failed: 1, cancelled: 0 },
      { day: '2026-01-10', total: 2, done: 0, failed: 0, cancelled: 1 },
    ]);
    expect(s.waitTimesSince(T0 - 7 * DAY).sort((x, y) => x - y)).toEqual([4000, 10_000]);
    s.close();
  });

  it('returns the step times since a moment, and the latest start of each user and guild, newest first', () => {
    const s = new JobStore({ dataDir: tmpDir(), durable: false });
    s.recordStepTime({ device: 'cpu', steps: 5, secPerStep: 2, unitFactor: 4 }, T0 - 10 * DAY);
    s.recordStepTime({ device: 'cpu', steps: 5, secPerStep: 1, unitFactor: 2 }, T0);
    expect(s.stepTimesSince(T0 - DAY)).toEqual([{ device: 'cpu', secPerStep: 1, secPerUnitStep: 0.5 }]);
    const ids = ['A', 'A', 'B', 'C'].map((u, i) => s.insertJob(newJob(u, { guildId: u === 'C' ? null : 'g1' }), `j${i}`).id);
    ids.forEach((id, i) => s.markRunning(id, 'cpu', 1000 * (i + 1)));
    expect(s.recentStarts(10)).toEqual([
      { userId: 'C', guildId: null, at: 4000 },
      { userId: 'B', guildId: 'g1', at: 3000 },
      { userId: 'A', guildId: 'g1', at: 2000 },
    ]);
    expect(s.recentStarts(1)).toHaveLength(1);
    s.close();
  });

  it('checkWritable writes nothing, and throws once the store cannot write', () => {
    const dir = tmpDir();
    const s = new JobStore({ dataDir: dir, durable: false });
    s.checkWritable();
    expect(s.allSettings()).toEqual({});
    s.close();
    expect(() => s.checkWritable()).toThrow(/closed/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a user's jobs in two guilds both have a place in the queue", async () => {
    const { scheduler } = rig({ start: false });
    const u1 = scheduler.submit(newJob('U', { guildId: 'g1' })).job.id;
    const u2 = scheduler.submit(newJob('U', { guildId: 'g2' })).job.id;
    const v1 = scheduler.submit(newJob('V', { guildId: 'g2' })).job.id;
    expect(scheduler.queue().map((e) => e.job.id)).toEqual([u1, v1, u2]);
    expect(scheduler.position(u2)?.position).toBe(3);
    expect(scheduler.userJobs('U').map((j) => j.id)).toEqual([u1, u2]);
    await scheduler.shutdown();
  });
});
