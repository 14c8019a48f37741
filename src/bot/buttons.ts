/**
 * Buttons on job messages (custom id `reverie:<action>:<jobId>`): 🔁 Re-roll and 🎲 Variation start a new
 * job under the presser's name (its message is the reply to the button press); ❌ Cancel stops a waiting
 * or running job; ❌ Delete removes a finished job's message. Cancel and Delete: the requester or members
 * with Manage Messages.
 */
import type { ButtonInteraction } from 'discord.js';
import { displayName } from '../commands/imagine.ts';
import { canManage } from '../commands/queue.ts';
import { replyPrivately } from '../commands/types.ts';
import { randomSeed } from '../commands/validate.ts';
import { JobRefusedError } from '../jobs/errors.ts';
import type { GenerationRequest, JobRecord } from '../jobs/types.ts';
import type { BotContext } from './context.ts';
import { errorSummary, toDiscordPayload } from './discord-port.ts';
import { parseButtonId } from './format.ts';

/** A variation: the parent's final z as the start, a new seed, half the steps. */
export function variationRequest(parent: JobRecord, rng: () => number = Math.random): GenerationRequest {
  const steps = Math.max(1, Math.round(parent.request.steps / 2));
  const r: GenerationRequest = { ...parent.request, seed: randomSeed(rng), steps, saveEvery: Math.min(parent.request.saveEvery ?? steps, steps) };
  delete r.initImage;
  delete r.initZ;
  if (parent.finalZPath) r.initZ = parent.finalZPath;
  else if (parent.resultPath) r.initImage = parent.resultPath;
  return r;
}

async function startChild(i: ButtonInteraction, ctx: BotContext, parent: JobRecord, kind: 'reroll' | 'vary'): Promise<void> {
  if (kind === 'vary' && (parent.state !== 'done' || (!parent.finalZPath && !parent.resultPath))) {
    return replyPrivately(i, 'A variation starts from a finished picture, and this one has none.');
  }
  const discord = { guildId: i.guildId, channelId: i.channelId };
  let jobId: string;
  try {
    const entry = ctx.presenter.submitting(() =>
      kind === 'reroll'
        ? ctx.scheduler.reroll(parent.id, undefined, i.user.id, { userName: displayName(i), discord })
        : ctx.scheduler.submit({ userId: i.user.id, userName: displayName(i), guildId: i.guildId, discord, parentId: parent.id, request: variationRequest(parent) }),
    );
    jobId = entry.job.id;
  } catch (e) {
    if (e instanceof JobRefusedError) return replyPrivately(i, e.userMessage);
    throw e;
  }
  ctx.log.info({ job: jobId, parent: parent.id, user: i.user.id }, `${kind}: queued`);
  await ctx.presenter.bind(jobId, async (msg) => {
    const res = await i.reply({ ...toDiscordPayload(msg), withResponse: true });
    const m = res.resource?.message;
    if (!m) throw new Error('the interaction response carried no message');
    return { channelId: m.channelId, messageId: m.id };
  });
}

export async function handleButton(i: ButtonInteraction, ctx: BotContext): Promise<void> {
  const parsed = parseButtonId(i.customId);
  if (!parsed) return;
  const job = ctx.scheduler.getJob(parsed.jobId);
  if (!job) return replyPrivately(i, 'I no longer know this job.');
  switch (parsed.action) {
    case 'reroll':
    case 'vary':
      return startChild(i, ctx, job, parsed.action);
    case 'cancel':
    case 'delete': {
      if (!canManage(job, i.user.id, i.memberPermissions)) {
        return replyPrivately(i, `Only <@${job.userId}> (who asked for it) or a moderator can ${parsed.action} this.`);
      }
      const active = job.state === 'queued' || job.state === 'running';
      if (parsed.action === 'cancel' && !active) return replyPrivately(i, `This job has already ${job.state === 'done' ? 'finished' : `been ${job.state}`}.`);
      if (active) {
        ctx.presenter.noteCancelledBy(job.id, i.user.id);
        const r = ctx.scheduler.cancel(job.id);
        ctx.log.info({ job: job.id, by: i.user.id, ok: r.ok }, 'cancelled by button');
      }
      await i.deferUpdate();
      if (parsed.action === 'delete') {
        ctx.presenter.forget(job.id);
        await ctx.port.deleteMessage({ channelId: i.channelId, messageId: i.message.id }).catch((err: unknown) =>
          ctx.log.warn({ job: job.id, err: errorSummary(err) }, 'could not delete the job message'),
        );
      }
      return;
    }
  }
}
