/** Scheduler.setConcurrency: the cluster device follows its live workers; 0 = nothing starts, ETAs still work. */
import { describe, expect, it } from 'vitest';
import { newJob, rig as makeRig } from './helpers.ts';

describe('Scheduler.setConcurrency', () => {
  it('0 slots: jobs wait with positions and ETAs; slots back: they start', async () => {
    const rig = makeRig({ devices: ['cluster'], start: false });
    rig.scheduler.setConcurrency('cluster', 0);
    rig.scheduler.recover();
    const ids = ['a', 'b'].map((u) => rig.scheduler.submit(newJob(u)).job.id);
    expect(rig.scheduler.runningJobs()).toEqual([]);
    expect(rig.scheduler.queue().map((e) => e.position)).toEqual([1, 2]);
    rig.scheduler.setConcurrency('cluster', 2);
    await rig.scheduler.whenIdle();
    expect(ids.map((id) => rig.store.getJob(id)!.state)).toEqual(['done', 'done']);
    await rig.scheduler.shutdown();
  });
});
