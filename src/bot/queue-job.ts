/**
 * The one way a job is queued from Discord: submit (or re-roll) while the presenter knows a message is
 * coming, turn a refusal (caps, shutdown) into the front end's own answer, then bind the job to the
 * message that shows it. /imagine, the buttons and the 🔁 reaction all go through queueAndPresent.
 */
import { JobRefusedError } from '../jobs/errors.ts';
import type { QueueEntry } from '../jobs/types.ts';
import type { BotContext } from './context.ts';
import type { MessageRef, OutgoingMessage } from './discord-port.ts';

export interface QueueAndPresent {
  /** scheduler.submit(...) or scheduler.reroll(...) */
  submit(): QueueEntry;
  /** tells the user why the job was refused */
  refused(err: JobRefusedError): Promise<unknown>;
  /** posts (or edits in) the job's message and says where it is */
  post(msg: OutgoingMessage): Promise<MessageRef>;
  /** the log line once queued, e.g. 'imagine: queued', with these fields */
  logAs: string;
  logFields?: Record<string, unknown>;
}

/** Returns the job id, or undefined when the job was refused (and the user told). */
export async function queueAndPresent(ctx: BotContext, q: QueueAndPresent): Promise<string | undefined> {
  let jobId: string;
  try {
    jobId = ctx.presenter.submitting(q.submit).job.id;
  } catch (e) {
    if (!(e instanceof JobRefusedError)) throw e;
    await q.refused(e);
    return undefined;
  }
  ctx.log.info({ job: jobId, ...q.logFields }, q.logAs);
  await ctx.presenter.bind(jobId, q.post);
  return jobId;
}
