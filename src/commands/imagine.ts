/**
 * /imagine prompt:<text> [style] [aspect] [size] [steps] [seed] [image_prompt] [init_image]
 *          [cutouts] [learning_rate] [optimiser]
 *
 * Validates everything it can before answering (errors are ephemeral), defers within Discord's 3 s,
 * downloads attachments from Discord's CDN, queues the job and hands the reply message to the presenter.
 */
import { InteractionContextType, SlashCommandBuilder, type Attachment, type ChatInputCommandInteraction } from 'discord.js';
import type { Config } from '../config.ts';
import type { BotContext } from '../bot/context.ts';
import { toDiscordPayload } from '../bot/discord-port.ts';
import { JobRefusedError } from '../jobs/errors.ts';
import type { GenerationRequest } from '../jobs/types.ts';
import { AttachmentError, checkAttachmentMeta, downloadImage, type AttachmentInfo } from './attachments.ts';
import { replyPrivately, type Command } from './types.ts';
import { ASPECTS, buildRequest, MAX_CUTN, MAX_LR, MAX_PROMPT_CHARS, MAX_SEED, MIN_LR, OPTIMISERS, STYLES, ValidationError } from './validate.ts';

/** Registration ceilings: generous, because admins can raise limits at run time; the handler checks the live ones. */
const STEPS_CEILING = 100_000;
const SIZE_CEILING = 8192;

export function imagineDefinition(_config: Config) {
  return new SlashCommandBuilder()
    .setName('imagine')
    .setDescription('Paint a picture from text with VQGAN+CLIP')
    .setContexts(InteractionContextType.Guild)
    .addStringOption((o) =>
      o
        .setName('prompt')
        .setDescription('What to paint. Weighted: "a lighthouse:1 | storm:0.5 | blurry:-1"')
        .setRequired(true)
        .setMaxLength(MAX_PROMPT_CHARS),
    )
    .addStringOption((o) =>
      o
        .setName('style')
        .setDescription('A style preset added to your prompt')
        .addChoices(...STYLES.map((s) => ({ name: s.name, value: s.name }))),
    )
    .addStringOption((o) =>
      o
        .setName('aspect')
        .setDescription('Shape of the picture (default square)')
        .addChoices(...ASPECTS.map((a) => ({ name: a.name, value: a.value }))),
    )
    .addIntegerOption((o) => o.setName('size').setDescription('Longest side in pixels (rounded down to a multiple of 16)').setMinValue(16).setMaxValue(SIZE_CEILING))
    .addIntegerOption((o) => o.setName('steps').setDescription('Optimisation steps: more is slower and more detailed').setMinValue(1).setMaxValue(STEPS_CEILING))
    .addIntegerOption((o) => o.setName('seed').setDescription('Random seed: the same seed and settings give the same picture').setMinValue(0).setMaxValue(MAX_SEED))
    .addAttachmentOption((o) => o.setName('image_prompt').setDescription('An image to paint towards (its look, not its layout)'))
    .addAttachmentOption((o) => o.setName('init_image').setDescription('An image to start from instead of noise'))
    .addIntegerOption((o) => o.setName('cutouts').setDescription(`Advanced: CLIP cutouts per step (1–${MAX_CUTN})`).setMinValue(1).setMaxValue(MAX_CUTN))
    .addNumberOption((o) => o.setName('learning_rate').setDescription(`Advanced: optimiser step size (${MIN_LR}–${MAX_LR}, default 0.1)`).setMinValue(MIN_LR).setMaxValue(MAX_LR))
    .addStringOption((o) =>
      o
        .setName('optimiser')
        .setDescription('Advanced: optimiser (default Adam)')
        .addChoices(...OPTIMISERS.map((name) => ({ name, value: name }))),
    )
    .toJSON();
}

function attachmentInfo(label: string, a: Attachment): AttachmentInfo {
  return { label, name: a.name, url: a.url, size: a.size, contentType: a.contentType };
}

export function displayName(i: { member?: unknown; user: { username: string; globalName?: string | null } }): string {
  const m = i.member as { displayName?: string; nick?: string | null } | null | undefined;
  return m?.displayName ?? m?.nick ?? i.user.globalName ?? i.user.username;
}

export async function executeImagine(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void> {
  const o = i.options;
  let built;
  try {
    built = buildRequest(
      {
        prompt: o.getString('prompt', true),
        style: o.getString('style'),
        aspect: o.getString('aspect'),
        size: o.getInteger('size'),
        steps: o.getInteger('steps'),
        seed: o.getInteger('seed'),
        cutouts: o.getInteger('cutouts'),
        learningRate: o.getNumber('learning_rate'),
        optimiser: o.getString('optimiser'),
      },
      ctx.limits.get(),
      ctx.defaults,
    );
  } catch (e) {
    if (e instanceof ValidationError) return replyPrivately(i, `I can't paint that yet: ${e.userMessage}`);
    throw e;
  }

  const policy = { ...ctx.attachments, maxBytes: Math.min(ctx.attachments.maxBytes, i.attachmentSizeLimit ?? Infinity) };
  const wanted: AttachmentInfo[] = [];
  for (const label of ['image_prompt', 'init_image'] as const) {
    const a = o.getAttachment(label);
    if (!a) continue;
    const info = attachmentInfo(label, a);
    try {
      checkAttachmentMeta(info, policy);
    } catch (e) {
      if (e instanceof AttachmentError) return replyPrivately(i, e.userMessage);
      throw e;
    }
    wanted.push(info);
  }

  // refuse before going public when the user's cap is already reached
  const cap = ctx.scheduler.limits.perUserCap;
  const mine = ctx.scheduler.userJobs(i.user.id).length;
  if (cap > 0 && mine >= cap) {
    return replyPrivately(i, `You already have ${mine} job${mine === 1 ? '' : 's'} waiting or running (the limit is ${cap}): wait for one to finish, or cancel one with /queue.`);
  }

  await i.deferReply();

  const request: GenerationRequest = { ...built.request };
  try {
    for (const info of wanted) {
      const img = await downloadImage(info, policy, ctx.uploadsDir);
      if (info.label === 'image_prompt') request.imagePrompts = [img.path];
      else request.initImage = img.path;
    }
  } catch (e) {
    if (e instanceof AttachmentError) return replyPrivately(i, e.userMessage);
    throw e;
  }

  let jobId: string;
  try {
    const entry = ctx.presenter.submitting(() =>
      ctx.scheduler.submit({
        userId: i.user.id,
        userName: displayName(i),
        guildId: i.guildId,
        discord: { guildId: i.guildId, channelId: i.channelId },
        request,
      }),
    );
    jobId = entry.job.id;
  } catch (e) {
    if (e instanceof JobRefusedError) return replyPrivately(i, e.userMessage);
    throw e;
  }
  ctx.log.info({ job: jobId, user: i.user.id, steps: request.steps, size: `${request.width}x${request.height}` }, 'imagine: queued');
  await ctx.presenter.bind(jobId, async (msg) => {
    const m = await i.editReply(toDiscordPayload(msg));
    return { channelId: m.channelId, messageId: m.id };
  });
}

export const imagine: Command = {
  name: 'imagine',
  definition: imagineDefinition,
  execute: executeImagine,
};
