/**
 * /reverie pause|resume [device] · /reverie limits [per_user] [max_steps] [max_size] [queue_cap] ·
 * /reverie stats: run-time controls for members with Manage Server. Changes persist in the store.
 */
import { CLUSTER_DEVICE, describeWorkers, pauseWorkers, redisMode } from '../bot/cluster.ts';
import { InteractionContextType, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import type { Config } from '../config.ts';
import type { BotContext } from '../bot/context.ts';
import { formatDuration } from '../bot/format.ts';
import { computeStats, dirSize, formatBytes } from '../bot/stats.ts';
import { replyPrivately, type Command } from '../bot/interaction.ts';
import { MIN_SIZE } from './validate.ts';

export function reverieDefinition(config: Config) {
  // distributed mode (REDIS_URL): the front's own devices only if DEVICES is set, plus the `cluster` device
  const redis = redisMode();
  const names = redis ? [CLUSTER_DEVICE, ...(redis.localDevices ? config.devices.map((d) => d.name) : [])] : config.devices.map((d) => d.name);
  const devices = names.slice(0, 25).map((d) => ({ name: d, value: d }));
  return new SlashCommandBuilder()
    .setName('reverie')
    .setDescription('Run the painter: pause, resume, limits, stats (Manage Server)')
    .setContexts(InteractionContextType.Guild)
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .addSubcommand((s) =>
      s
        .setName('pause')
        .setDescription('Stop starting new jobs (running ones finish)')
        .addStringOption((o) => o.setName('device').setDescription('One device (default: all)').addChoices(...devices))
        .addStringOption((o) => o.setName('worker').setDescription('Distributed mode: <worker> or <worker>/<device> from /queue')),
    )
    .addSubcommand((s) =>
      s
        .setName('resume')
        .setDescription('Start taking jobs again')
        .addStringOption((o) => o.setName('device').setDescription('One device (default: all)').addChoices(...devices))
        .addStringOption((o) => o.setName('worker').setDescription('Distributed mode: <worker> or <worker>/<device> from /queue')),
    )
    .addSubcommand((s) =>
      s
        .setName('limits')
        .setDescription('Show or change the limits (kept across restarts)')
        .addIntegerOption((o) => o.setName('per_user').setDescription('Jobs one member may have waiting or running (0: no limit)').setMinValue(0).setMaxValue(10_000))
        .addIntegerOption((o) => o.setName('max_steps').setDescription('Most steps a job may ask for').setMinValue(1).setMaxValue(100_000))
        .addIntegerOption((o) => o.setName('max_size').setDescription('Largest side in pixels').setMinValue(MIN_SIZE).setMaxValue(8192))
        .addIntegerOption((o) => o.setName('queue_cap').setDescription('Jobs waiting in all (0: no limit)').setMinValue(0).setMaxValue(1_000_000)),
    )
    .addSubcommand((s) => s.setName('stats').setDescription('Jobs per day, waiting times, speed per device'))
    .toJSON();
}

function describeLimits(ctx: BotContext): string {
  const l = ctx.limits.get();
  const s = ctx.scheduler.limits;
  return [
    `• per member: ${s.perUserCap || 'no limit'} job(s) waiting or running`,
    `• queue: ${s.globalQueueCap || 'no limit'} job(s) waiting in all`,
    `• steps: at most ${l.maxSteps}`,
    `• size: at most ${l.maxSize} px on the longest side`,
  ].join('\n');
}

function describeDevices(ctx: BotContext): string {
  return ctx.scheduler
    .devicesStatus()
    .map((d) => `\`${d.device}\`: ${d.paused ? '⏸️ paused' : '▶️ taking jobs'}${d.running.length ? ` · ${d.running.length} running` : ''}`)
    .join('\n')
    .concat(ctx.cluster ? `\n${describeWorkers(ctx.cluster).join('\n')}` : '');
}

export function renderStats(ctx: BotContext, data?: { bytes: number; files: number; partial: boolean }): string {
  const st = computeStats(ctx.store);
  const out = ['**Last 7 days**'];
  if (!st.days.length) out.push('No jobs yet.');
  for (const d of st.days) out.push(`• ${d.day}: ${d.total} job(s) · ${d.done} done · ${d.failed} failed · ${d.cancelled} cancelled`);
  out.push(`Median wait before painting starts: ${st.medianWaitSec === undefined ? 'no data yet' : `${formatDuration(st.medianWaitSec)} (${st.waitSamples} jobs)`}`);
  out.push('', '**Time per step**');
  if (!st.devices.length) out.push('No finished jobs measured yet.');
  for (const d of st.devices) {
    out.push(`• \`${d.device}\`: median ${d.medianSecPerStep.toFixed(3)} s/step (${d.medianSecPerUnitStep.toFixed(3)} s at 256², 32 cutouts) over ${d.runs} job(s)`);
  }
  const v = ctx.transcriber.stats();
  out.push('', '**Voice prompts** (since the bot started)');
  out.push(
    v.count || v.failures
      ? `${v.count} clip(s) transcribed${v.failures ? `, ${v.failures} failed` : ''} · median ${v.medianSec?.toFixed(2) ?? "?"} s each (${v.medianSecPerAudioSec?.toFixed(3) ?? '?'} s per second of audio) · ${v.totalSec.toFixed(1)} s of device time in all`
      : ctx.transcriber.available ? 'None yet.' : 'Not available (no device can transcribe).',
  );
  out.push('', `**Now**: ${st.active.running} running, ${st.active.queued} waiting`, describeDevices(ctx));
  if (data) {
    const disk = ctx.diskSpace?.();
    const free = disk ? ` · ${formatBytes(disk.freeMb * 1024 * 1024)} free${disk.ok ? '' : ' (under MIN_FREE_MB: new jobs are refused)'}` : '';
    out.push('', `**Data folder**: ${data.partial ? 'over ' : ''}${formatBytes(data.bytes)} in ${data.files} file(s)${free}`);
  }
  return out.join('\n');
}

export const reverie: Command = {
  name: 'reverie',
  definition: reverieDefinition,
  async execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
    if (!i.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
      return replyPrivately(i, 'Only members with the Manage Server permission can use /reverie.');
    }
    const sub = i.options.getSubcommand();
    switch (sub) {
      case 'pause':
      case 'resume': {
        const target = i.options.getString('worker');
        if (target) {
          if (!(await pauseWorkers(ctx.cluster, target, sub === 'pause'))) return replyPrivately(i, `There is no worker \`${target}\` (see /queue).`);
          ctx.log.info({ by: i.user.id, target }, `workers ${sub}d`);
          return replyPrivately(i, `${sub === 'pause' ? '⏸️ Paused' : '▶️ Resumed'} \`${target}\` (a running job finishes first).`);
        }
        const device = i.options.getString('device') ?? undefined;
        const known = ctx.scheduler.devicesStatus().map((d) => d.device);
        if (device && !known.includes(device)) return replyPrivately(i, `There is no device \`${device}\`; there are ${known.map((d) => `\`${d}\``).join(', ')}.`);
        if (sub === 'pause') ctx.scheduler.pause(device);
        else ctx.scheduler.resume(device);
        ctx.log.info({ by: i.user.id, device: device ?? 'all' }, `devices ${sub}d`);
        const what = device ? `\`${device}\`` : 'all devices';
        const note = sub === 'pause' ? 'Running jobs finish; new jobs wait in the queue.' : 'Waiting jobs start again.';
        return replyPrivately(i, `${sub === 'pause' ? '⏸️ Paused' : '▶️ Resumed'} ${what}. ${note}\n${describeDevices(ctx)}`);
      }
      case 'limits': {
        const perUser = i.options.getInteger('per_user');
        const maxSteps = i.options.getInteger('max_steps');
        const maxSize = i.options.getInteger('max_size');
        const queueCap = i.options.getInteger('queue_cap');
        const problems: string[] = [];
        if (perUser !== null && (perUser < 0 || perUser > 10_000)) problems.push('per_user must be between 0 and 10000.');
        if (maxSteps !== null && (maxSteps < 1 || maxSteps > 100_000)) problems.push('max_steps must be between 1 and 100000.');
        if (maxSize !== null && (maxSize < MIN_SIZE || maxSize > 8192)) problems.push(`max_size must be between ${MIN_SIZE} and 8192.`);
        if (queueCap !== null && (queueCap < 0 || queueCap > 1_000_000)) problems.push('queue_cap must be between 0 and 1000000.');
        if (problems.length) return replyPrivately(i, problems.join('\n'));
        const changed = [perUser, maxSteps, maxSize, queueCap].some((v) => v !== null);
        if (changed) {
          ctx.scheduler.setLimits({ ...(perUser !== null ? { perUserCap: perUser } : {}), ...(queueCap !== null ? { globalQueueCap: queueCap } : {}) });
          ctx.limits.set({ ...(maxSteps !== null ? { maxSteps } : {}), ...(maxSize !== null ? { maxSize } : {}) });
          ctx.log.info({ by: i.user.id, perUser, maxSteps, maxSize, queueCap }, 'limits changed');
        }
        return replyPrivately(i, `${changed ? 'Limits updated (kept across restarts):' : 'Current limits:'}\n${describeLimits(ctx)}`);
      }
      case 'stats':
        return replyPrivately(i, renderStats(ctx, await dirSize(ctx.config.dataDir)));
      default:
        return replyPrivately(i, `Unknown subcommand ${sub}.`);
    }
  },
};
