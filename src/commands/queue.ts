/**
 * /queue [cancel:<job id | mine>]: what runs on which device, who waits (in the fair order, with ETAs),
 * and your own jobs; with `cancel`, cancels a job (its requester, or members with Manage Messages).
 */
import { InteractionContextType, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot/context.ts';
import { cutText, escapeMd, formatDuration, shortPrompt } from '../bot/format.ts';
import type { JobRecord } from '../jobs/types.ts';
import { canManage, replyPrivately, type Command } from '../bot/interaction.ts';
import { describeWorkers } from '../bot/cluster.ts';

const MAX_LISTED = 10;

function line(j: JobRecord): string {
  return `<@${j.userId}> “${escapeMd(shortPrompt(j.request.prompt, 60))}”`;
}

export function renderQueue(ctx: BotContext, userId: string): string {
  const s = ctx.scheduler;
  const running = s.runningJobs();
  const out: string[] = ['**Painting now**'];
  for (const d of s.devicesStatus()) {
    const jobs = running.filter((j) => d.running.includes(j.id));
    const paused = d.paused ? ' ⏸️ paused' : '';
    if (!jobs.length) out.push(`• \`${d.device}\`${paused}: idle`);
    for (const j of jobs) out.push(`• \`${d.device}\`${paused}: ${line(j)} · step ${j.step}/${j.request.steps} · job \`${j.id}\``);
  }
  if (ctx.cluster) out.push('', ...describeWorkers(ctx.cluster));
  const waiting = s.queue();
  out.push('', `**Waiting (${waiting.length})**`);
  if (!waiting.length) out.push('Nobody: a new job starts right away.');
  for (const e of waiting.slice(0, MAX_LISTED)) {
    out.push(`${e.position}. ${line(e.job)} · starts in ~${formatDuration(e.etaSec)} · job \`${e.job.id}\``);
  }
  if (waiting.length > MAX_LISTED) out.push(`…and ${waiting.length - MAX_LISTED} more.`);
  const mine = s.userJobs(userId);
  out.push('', '**Your jobs**');
  if (!mine.length) out.push('None. Start one with /imagine.');
  for (const j of mine) {
    const pos = waiting.find((e) => e.job.id === j.id);
    out.push(
      pos
        ? `• \`${j.id}\` #${pos.position} in line, starts in ~${formatDuration(pos.etaSec)}`
        : `• \`${j.id}\` painting: step ${j.step}/${j.request.steps}`,
    );
  }
  if (mine.length) out.push('-# Cancel with `/queue cancel:<job id>` (or `cancel:mine`), or the ❌ button on its message.');
  let text = out.join('\n');
  if (text.length > 2000) text = cutText(text, 1992, '\n…');
  return text;
}

export function cancelJob(ctx: BotContext, jobId: string, userId: string, permissions: { has(p: bigint): boolean } | null | undefined): string {
  const job = ctx.scheduler.getJob(jobId);
  if (!job) return `There is no job \`${escapeMd(jobId)}\`. \`/queue\` lists the job ids.`;
  if (!canManage(job, userId, permissions)) return `Only <@${job.userId}> (who asked for it) or a moderator can cancel job \`${job.id}\`.`;
  if (job.state !== 'queued' && job.state !== 'running') return `Job \`${job.id}\` has already ${job.state === 'done' ? 'finished' : `been ${job.state}`}.`;
  ctx.presenter.noteCancelledBy(job.id, userId);
  const r = ctx.scheduler.cancel(job.id);
  if (!r.ok) return `Job \`${job.id}\` could not be cancelled: it has ${r.reason === 'finished' ? 'already finished' : 'disappeared'}.`;
  ctx.log.info({ job: job.id, by: userId, wasRunning: r.wasRunning }, 'job cancelled');
  return `Cancelled job \`${job.id}\`${r.wasRunning ? ' (it stops within a step)' : ''}.`;
}

export const queue: Command = {
  name: 'queue',
  definition: () =>
    new SlashCommandBuilder()
      .setName('queue')
      .setDescription('Show what is painting, who is waiting and where your jobs are')
      .setContexts(InteractionContextType.Guild)
      .addStringOption((o) => o.setName('cancel').setDescription('Cancel a job: its id (from this list), or "mine" for all of yours').setMaxLength(64))
      .toJSON(),
  async execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
    const target = i.options.getString('cancel')?.trim();
    if (!target) return replyPrivately(i, renderQueue(ctx, i.user.id));
    if (target.toLowerCase() === 'mine') {
      const mine = ctx.scheduler.userJobs(i.user.id);
      if (!mine.length) return replyPrivately(i, 'You have no jobs waiting or running.');
      const lines = mine.map((j) => cancelJob(ctx, j.id, i.user.id, i.memberPermissions));
      return replyPrivately(i, lines.join('\n'));
    }
    return replyPrivately(i, cancelJob(ctx, target, i.user.id, i.memberPermissions));
  },
};
