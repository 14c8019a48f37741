/** A job's thread: created once its message exists, then snapshots posted to it in order. */
import type { Logger } from 'pino';
import type { Scheduler } from '../jobs/scheduler.ts';
import type { PresenterCounters } from '../observability/counters.ts';
import { errorSummary, isForbidden, isGone, type DiscordPort, type OutgoingFile } from './discord-port.ts';
import { threadName } from './format.ts';
import type { JobView, PresenterOptions } from './presenter-state.ts';

export interface ThreadDeps {
  opts: PresenterOptions;
  port: DiscordPort;
  counters: PresenterCounters;
  scheduler: Pick<Scheduler, 'setDiscordRefs'>;
  log: Logger;
}

export function ensureThread(d: ThreadDeps, v: JobView): void {
  if (!d.opts.threads || v.thread !== 'none' || v.bind !== 'bound' || !v.message) return;
  v.thread = 'creating';
  const ref = v.message;
  v.threadWork = v.threadWork.then(async () => {
    try {
      const id = await d.port.startThread(ref, threadName(v.job.request.prompt));
      d.counters.threadsCreated++;
      v.thread = 'ready';
      v.threadId = id;
      try {
        d.scheduler.setDiscordRefs(v.job.id, { threadId: id });
      } catch (err) {
        d.log.warn({ job: v.job.id, err: errorSummary(err) }, 'could not record the thread id');
      }
    } catch (err) {
      v.thread = 'unavailable';
      d.log.warn({ job: v.job.id, err: errorSummary(err) }, 'no thread for this job (missing permission or unsupported channel); progress stays on the message');
    }
  });
}

export function postToThread(d: ThreadDeps, v: JobView, content: string, file: OutgoingFile, droppable: boolean): void {
  if (!d.opts.threads || v.thread === 'unavailable') return;
  if (droppable && v.pendingPosts >= d.opts.maxPendingThreadPosts) return;
  v.pendingPosts++;
  v.threadWork = v.threadWork.then(async () => {
    v.pendingPosts--;
    if (v.thread !== 'ready' || !v.threadId) return;
    try {
      await d.port.sendMessage(v.threadId, { content, files: [file] });
      d.counters.threadPosts++;
    } catch (err) {
      d.log.warn({ job: v.job.id, err: errorSummary(err) }, 'could not post to the thread');
      if (isGone(err) || isForbidden(err)) v.thread = 'unavailable';
    }
  });
}
