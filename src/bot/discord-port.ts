/**
 * The few Discord operations the presenter needs, over the bot token (never the interaction webhook,
 * whose token dies after 15 minutes). discord.js queues requests per route and honours 429s.
 */
import {
  AttachmentBuilder,
  ChannelType,
  DiscordAPIError,
  type APIActionRowComponent,
  type APIComponentInMessageActionRow,
  type Client,
  type MessageCreateOptions,
  type TextBasedChannel,
} from 'discord.js';

export interface MessageRef {
  channelId: string;
  messageId: string;
}

export interface OutgoingFile {
  name: string;
  data: Buffer;
}

export interface OutgoingMessage {
  content: string;
  components?: unknown[];
  /** given: they replace the message's attachments; absent: the attachments stay as they are */
  files?: OutgoingFile[];
}

export interface DiscordPort {
  editMessage(ref: MessageRef, msg: OutgoingMessage): Promise<void>;
  sendMessage(channelId: string, msg: OutgoingMessage & { replyTo?: string }): Promise<MessageRef>;
  deleteMessage(ref: MessageRef): Promise<void>;
  /** Starts a public thread on the message; returns the thread's channel id. */
  startThread(ref: MessageRef, name: string): Promise<string>;
  react(ref: MessageRef, emoji: string): Promise<void>;
}

/** discord.js options for an OutgoingMessage: fits message send/edit and interaction reply/edit. */
export interface DiscordPayload {
  content: string;
  allowedMentions: { parse: [] };
  components?: APIActionRowComponent<APIComponentInMessageActionRow>[];
  files?: AttachmentBuilder[];
  attachments?: [];
}

/** No pings: the content mentions users for display only. Files replace the message's attachments. */
export function toDiscordPayload(msg: OutgoingMessage): DiscordPayload {
  const out: DiscordPayload = { content: msg.content, allowedMentions: { parse: [] } };
  if (msg.components) out.components = msg.components as DiscordPayload['components'];
  if (msg.files) {
    out.files = msg.files.map((f) => new AttachmentBuilder(f.data, { name: f.name }));
    out.attachments = [];
  }
  return out;
}

/** Discord error codes meaning the message (or channel) is gone or out of reach for good. */
const GONE = new Set([10003, 10008, 50001, 10015]);
/** Missing permissions (e.g. Create Public Threads). */
const FORBIDDEN = new Set([50013, 50001, 160002]);

export function discordCode(err: unknown): number | undefined {
  if (err instanceof DiscordAPIError) return typeof err.code === 'number' ? err.code : Number(err.code);
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'number' ? c : undefined;
}
export const isGone = (err: unknown): boolean => {
  const c = discordCode(err);
  return c !== undefined && GONE.has(c);
};
export const isForbidden = (err: unknown): boolean => {
  const c = discordCode(err);
  return (c !== undefined && FORBIDDEN.has(c)) || (err instanceof DiscordAPIError && err.status === 403);
};

export class DiscordJsPort implements DiscordPort {
  constructor(private readonly client: Client) {}

  private async channel(id: string): Promise<TextBasedChannel> {
    const ch = await this.client.channels.fetch(id);
    if (!ch || !ch.isTextBased()) throw Object.assign(new Error(`channel ${id} is not a text channel`), { code: 10003 });
    return ch;
  }

  async editMessage(ref: MessageRef, msg: OutgoingMessage): Promise<void> {
    const ch = await this.channel(ref.channelId);
    await ch.messages.edit(ref.messageId, toDiscordPayload(msg));
  }

  async sendMessage(channelId: string, msg: OutgoingMessage & { replyTo?: string }): Promise<MessageRef> {
    const ch = await this.channel(channelId);
    if (!ch.isSendable()) throw Object.assign(new Error(`cannot send in ${channelId}`), { code: 50013 });
    const payload: MessageCreateOptions = toDiscordPayload(msg);
    if (msg.replyTo) payload.reply = { messageReference: msg.replyTo, failIfNotExists: false };
    const m = await ch.send(payload);
    return { channelId: m.channelId, messageId: m.id };
  }

  async deleteMessage(ref: MessageRef): Promise<void> {
    const ch = await this.channel(ref.channelId);
    await ch.messages.delete(ref.messageId);
  }

  async startThread(ref: MessageRef, name: string): Promise<string> {
    const ch = await this.channel(ref.channelId);
    if (ch.type !== ChannelType.GuildText && ch.type !== ChannelType.GuildAnnouncement) {
      throw Object.assign(new Error('threads need a text or announcement channel'), { code: 50024 });
    }
    const thread = await ch.threads.create({ startMessage: ref.messageId, name, autoArchiveDuration: 1440 });
    return thread.id;
  }

  async react(ref: MessageRef, emoji: string): Promise<void> {
    const ch = await this.channel(ref.channelId);
    await ch.messages.react(ref.messageId, emoji);
  }
}

/**
 * An error as a small log object: message, Discord code and HTTP status, the route's method and the
 * stack. Never the request URL or body (they can hold interaction tokens, attachment URLs and files).
 */
export function errorSummary(err: unknown): { message: string; code?: unknown; status?: unknown; method?: unknown; stack?: string } {
  if (err && typeof err === 'object') {
    const e = err as { message?: string; code?: unknown; status?: unknown; method?: unknown; stack?: string; name?: string };
    const out: { message: string; code?: unknown; status?: unknown; method?: unknown; stack?: string } = { message: String(e.message ?? err) };
    if (e.code !== undefined) out.code = e.code;
    if (e.status !== undefined) out.status = e.status;
    if (e.method !== undefined) out.method = e.method;
    if (!(err instanceof DiscordAPIError) && e.stack) out.stack = e.stack.split('\n').slice(0, 6).join('\n');
    return out;
  }
  return { message: String(err) };
}
