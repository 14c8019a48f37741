/**
 * One structured log line per job milestone (queued, started, done, failed, cancelled), each with the
 * job id as `job`, so `grep '"job":"<id>"'` tells a job's whole story. No prompts, no URLs.
 */
import type { Logger } from 'pino';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { SchedulerEventMap } from '../jobs/types.ts';

export function logJobEvents(scheduler: Scheduler, log: Logger): () => void {
  const offs: Array<() => void> = [];
  const on = <K extends keyof SchedulerEventMap>(name: K, fn: (...a: SchedulerEventMap[K]) => void): void => {
    scheduler.on(name, fn as never);
    offs.push(() => scheduler.off(name, fn as never));
  };
  on('queued', (e) =>
    log.info(
      { job: e.job.id, user: e.job.userId, guild: e.job.guildId, parent: e.job.parentId, position: e.position, steps: e.job.request.steps, size: `${e.job.request.width}x${e.job.request.height}` },
      'job queued',
    ),
  );
  on('started', (e) => log.info({ job: e.job.id, device: e.device, resumedFromStep: e.resumedFromStep, interruptions: e.job.interruptions || undefined }, 'job started'));
  on('done', (e) => {
    const m = e.job.metadata ?? {};
    log.info({ job: e.job.id, device: e.job.device, steps: e.job.request.steps, seconds: m.seconds, stepMs: m.stepMs }, 'job done');
  });
  on('failed', (e) => log.warn({ job: e.job.id, device: e.job.device, error: e.error }, 'job failed'));
  on('cancelled', (e) => log.info({ job: e.job.id, wasRunning: e.wasRunning }, 'job cancelled'));
  return () => {
    for (const off of offs) off();
  };
}
