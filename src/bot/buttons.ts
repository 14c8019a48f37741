/**
 * Buttons on job messages (custom id `reverie:<action>:<jobId>`): 🔁 Re-roll and 🎲 Variation start a new
 * job under the presser's name (its message is the reply to the button press); ❌ Cancel stops a waiting
 * or running job; ❌ Delete removes a finished job's message. Cancel and Delete: the requester or members
 * with Manage Messages.
 */
import type { ButtonInteraction } from 'discord.js';
import { randomSeed } from '../engine/request-schema.ts';
import type { GenerationRequest, JobRecord, QueueEntry } from '../jobs/types.ts';
import type { BotContext } from './context.ts';
import { errorSummary, toDiscordPayload } from './discord-port.ts';
import { parseButtonId, type ButtonAction } from './format.ts';
import { canManage, displayName, replyPrivately } from './interaction.ts';
import { queueAndPresent } from './queue-job.ts';

/** One button: like a Command, keyed by the action in its custom id. */
export interface ButtonHandler {
  action: ButtonAction;
  execute(i: ButtonInteraction, ctx: BotContext, job: JobRecord): Promise<void>;
}

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

/** A new job from a button press, shown in the reply to the press. */
async function startChild(i: ButtonInteraction, ctx: BotContext, parent: JobRecord, kind: 'reroll' | 'vary', submit: () => QueueEntry): Promise<void> {
  await queueAndPresent(ctx, {
    submit,
    refused: (e) => replyPrivately(i, e.userMessage),
    logAs: `${kind}: queued`,
    logFields: { parent: parent.id, user: i.user.id },
    post: async (msg) => {
      const res = await i.reply({ ...toDiscordPayload(msg), withResponse: true });
      const m = res.resource?.message;
      if (!m) throw new Error('the interaction response carried no message');
      return { channelId: m.channelId, messageId: m.id };
    },
  });
}

/** Cancel, and Delete (which cancels first when the job is still active). */
async function stopOrDelete(i: ButtonInteraction, ctx: BotContext, job: JobRecord, action: 'cancel' | 'delete'): Promise<void> {
  if (!canManage(job, i.user.id, i.memberPermissions)) {
    return replyPrivately(i, `Only <@${job.userId}> (who asked for it) or a moderator can ${action} this.`);
  }
  const active = job.state === 'queued' || job.state === 'running';
  if (action === 'cancel' && !active) return replyPrivately(i, `This job has already ${job.state === 'done' ? 'finished' : `been ${job.state}`}.`);
  if (active) {
    ctx.presenter.noteCancelledBy(job.id, i.user.id);
    const r = ctx.scheduler.cancel(job.id);
    ctx.log.info({ job: job.id, by: i.user.id, ok: r.ok }, 'cancelled by button');
  }
  await i.deferUpdate();
  if (action === 'delete') {
    ctx.presenter.forget(job.id);
    await ctx.port.deleteMessage({ channelId: i.channelId, messageId: i.message.id }).catch((err: unknown) =>
      ctx.log.warn({ job: job.id, err: errorSummary(err) }, 'could not delete the job message'),
    );
  }
}

export const BUTTONS: readonly ButtonHandler[] = [
  {
    action: 'reroll',
    execute: (i, ctx, parent) =>
      startChild(i, ctx, parent, 'reroll', () =>
        ctx.scheduler.reroll(parent.id, undefined, i.user.id, { userName: displayName(i), discord: { guildId: i.guildId, channelId: i.channelId } }),
      ),
  },
  {
    action: 'vary',
    async execute(i, ctx, parent) {
      if (parent.state !== 'done' || (!parent.finalZPath && !parent.resultPath)) {
        return replyPrivately(i, 'A variation starts from a finished picture, and this one has none.');
      }
      const discord = { guildId: i.guildId, channelId: i.channelId };
      return startChild(i, ctx, parent, 'vary', () =>
        ctx.scheduler.submit({ userId: i.user.id, userName: displayName(i), guildId: i.guildId, discord, parentId: parent.id, request: variationRequest(parent) }),
      );
    },
  },
  { action: 'cancel', execute: (i, ctx, job) => stopOrDelete(i, ctx, job, 'cancel') },
  { action: 'delete', execute: (i, ctx, job) => stopOrDelete(i, ctx, job, 'delete') },
];

const byAction = new Map(BUTTONS.map((b) => [b.action, b]));

export async function handleButton(i: ButtonInteraction, ctx: BotContext): Promise<void> {
  const parsed = parseButtonId(i.customId);
  if (!parsed) return;
  const job = ctx.scheduler.getJob(parsed.jobId);
  if (!job) return replyPrivately(i, 'I no longer know this job.');
  await byAction.get(parsed.action)?.execute(i, ctx, job);
}
