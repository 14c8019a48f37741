import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/jobs/scheduler.ts';
import { JobStore } from '../../src/jobs/store.ts';
import type { JobRecord, JobResult, JobRunner, JobRunnerContext } from '../../src/jobs/types.ts';
import { newJob, tmpDir, waitFor } from './helpers.ts';

/** Finishes its job only once the shutdown signal has arrived (a run that completes during shutdown). */
class FinishOnAbort implements JobRunner {
  readonly device = 'cpu';
  async run(_job: JobRecord, ctx: JobRunnerContext): Promise<JobResult> {
    ctx.onProgress({ step: 1, steps: 1, loss: 0.5, itPerSec: 1, etaSec: 0 });
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    return { png: Buffer.from('PNG'), metadata: {} };
  }
}

describe('a run that finishes while the bot shuts down', () => {
  it('keeps its result instead of going back to the queue', async () => {
    const dir = tmpDir('late-result');
    const store = new JobStore({ dataDir: dir, durable: false });
    const scheduler = new Scheduler({ store, runners: [new FinishOnAbort()], closeStore: false });
    scheduler.recover();
    const { job } = scheduler.submit(newJob('alice'));
    await waitFor(scheduler, 'progress');
    await scheduler.shutdown();
    const after = store.getJob(job.id)!;
    expect(after.state).toBe('done');
    expect(after.resultPath).toBeTruthy();
    store.close();
  });
});
