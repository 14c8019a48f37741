/**
 * A fake Discord for tests: the REST API v10 routes discord.js uses plus a gateway WebSocket, on
 * 127.0.0.1 with a random port. Every request is recorded (method, route pattern, JSON body, files)
 * so tests can assert on what Discord would have received.
 *
 *   const fake = await FakeDiscord.start();
 *   new Client({ rest: { api: fake.apiBase }, ... }).login(fake.token);
 */
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { snowflake } from './snowflake.ts';
import { BOT_PERMS, EVERYONE_PERMS, P } from './permissions.ts';

export type Json = Record<string, any>;

export interface RecordedFile {
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface RecordedRequest {
  seq: number;
  at: number;
  method: string;
  /** the path after /api/v10, e.g. /channels/123/messages/456 */
  path: string;
  /** "METHOD /pattern", e.g. "PATCH /channels/:channel/messages/:message" */
  route: string;
  params: Record<string, string>;
  query: Record<string, string>;
  /** 'bot' when the bot token was sent, 'none' for webhook/interaction calls (the token is never stored) */
  auth: 'bot' | 'none' | 'bad';
  body: Json | null;
  files: RecordedFile[];
  status: number;
  response: unknown;
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  content_type?: string;
  url: string;
  proxy_url: string;
  width?: number;
  height?: number;
  ephemeral?: boolean;
  /** voice messages: seconds and a base64 waveform */
  duration_secs?: number;
  waveform?: string;
}

export interface StoredMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  author: Json;
  content: string;
  embeds: Json[];
  components: Json[];
  attachments: FakeAttachment[];
  flags: number;
  type: number;
  timestamp: string;
  edited_timestamp: string | null;
  /** emoji name → user ids */
  reactions: Map<string, Set<string>>;
  interaction_metadata?: Json;
  webhook_id?: string;
  application_id?: string;
  thread_id?: string;
  deleted: boolean;
  /** every state of the message, oldest first (content, embeds, components, attachment names) */
  history: Array<{ at: number; content: string; embeds: Json[]; components: Json[]; attachments: string[] }>;
}

export interface FakeChannel {
  id: string;
  type: number;
  name: string;
  guild_id: string;
  parent_id: string | null;
  position: number;
  permission_overwrites: Json[];
  owner_id?: string;
  thread_metadata?: Json;
  /** test knob: refuse thread creation here with 403 / 50013 */
  denyThreads?: boolean;
}

export interface FakeMemberUser {
  id: string;
  username: string;
  global_name: string | null;
  bot?: boolean;
  roles: string[];
}

interface InteractionState {
  id: string;
  token: string;
  applicationId: string;
  channelId: string;
  guildId: string;
  user: FakeMemberUser;
  createdAt: number;
  acknowledged: boolean;
  responseType?: number;
  ephemeral: boolean;
  expired: boolean;
  /** the @original message: the response message, or the component's message for types 6/7 */
  originalMessageId?: string;
  sourceMessageId?: string;
  followups: string[];
}

interface RateLimitRule {
  method?: string;
  route?: string | RegExp;
  remaining: number;
  retryAfter: number;
}

interface CdnFile {
  data: Buffer;
  contentType: string;
  /** serve without Content-Length, in small chunks with a delay between them */
  stream?: { chunk: number; delayMs: number };
  /** keep sending bytes forever (simulates a huge file) */
  endless?: boolean;
  bytesSent: number;
  aborted: boolean;
  requests: number;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly body: Json) {
    super(body.message ?? String(status));
  }
}

const notFound = (what: string, code: number) => new HttpError(404, { message: `Unknown ${what}`, code });

export interface FakeDiscordOptions {
  token?: string;
  heartbeatIntervalMs?: number;
  /** interactions must be answered within this (Discord: 3 s) or the callback gets 404 / 10062 */
  ackDeadlineMs?: number;
  botName?: string;
  guildName?: string;
}

const ROUTES: Array<[string, string]> = [
  ['GET', '/gateway/bot'],
  ['GET', '/gateway'],
  ['GET', '/users/@me'],
  ['GET', '/users/:user'],
  ['GET', '/applications/@me'],
  ['GET', '/applications/:app/commands'],
  ['PUT', '/applications/:app/commands'],
  ['POST', '/applications/:app/commands'],
  ['GET', '/applications/:app/guilds/:guild/commands'],
  ['PUT', '/applications/:app/guilds/:guild/commands'],
  ['POST', '/applications/:app/guilds/:guild/commands'],
  ['POST', '/interactions/:interaction/:token/callback'],
  ['GET', '/webhooks/:app/:token/messages/:message'],
  ['PATCH', '/webhooks/:app/:token/messages/:message'],
  ['DELETE', '/webhooks/:app/:token/messages/:message'],
  ['POST', '/webhooks/:app/:token'],
  ['GET', '/channels/:channel'],
  ['GET', '/channels/:channel/messages'],
  ['POST', '/channels/:channel/messages'],
  ['GET', '/channels/:channel/messages/:message'],
  ['PATCH', '/channels/:channel/messages/:message'],
  ['DELETE', '/channels/:channel/messages/:message'],
  ['POST', '/channels/:channel/messages/:message/threads'],
  ['PUT', '/channels/:channel/messages/:message/reactions/:emoji/@me'],
  ['DELETE', '/channels/:channel/messages/:message/reactions/:emoji/@me'],
  ['DELETE', '/channels/:channel/messages/:message/reactions/:emoji/:user'],
  ['GET', '/channels/:channel/messages/:message/reactions/:emoji'],
  ['GET', '/guilds/:guild'],
  ['GET', '/guilds/:guild/channels'],
  ['GET', '/guilds/:guild/roles'],
  ['GET', '/guilds/:guild/members/:user'],
];

function matchRoute(method: string, path: string): { pattern: string; params: Record<string, string> } | null {
  const parts = path.split('/').filter(Boolean);
  outer: for (const [m, pattern] of ROUTES) {
    if (m !== method) continue;
    const pp = pattern.split('/').filter(Boolean);
    if (pp.length !== parts.length) continue;
    const params: Record<string, string> = {};
    for (let i = 0; i < pp.length; i++) {
      if (pp[i]!.startsWith(':')) params[pp[i]!.slice(1)] = decodeURIComponent(parts[i]!);
      else if (pp[i] !== parts[i]) continue outer;
    }
    return { pattern, params };
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeDiscord extends EventEmitter {
  readonly token: string;
  readonly appId = snowflake();
  readonly botUser: FakeMemberUser;
  readonly guildId = snowflake();
  readonly guildName: string;
  /** the text channel tests talk in */
  readonly channelId: string;
  readonly roles: Json[];
  readonly modRoleId = snowflake();
  readonly adminRoleId = snowflake();
  readonly botRoleId = snowflake();
  readonly users = new Map<string, FakeMemberUser>();
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, StoredMessage>();
  readonly requests: RecordedRequest[] = [];
  readonly interactions = new Map<string, InteractionState>();
  readonly commands = { global: [] as Json[], guild: new Map<string, Json[]>() };
  readonly gatewayEvents: Array<{ at: number; op: number; t?: string; d: unknown }> = [];
  readonly identifies: Json[] = [];
  private readonly cdnFiles = new Map<string, CdnFile>();
  private readonly rateLimits: RateLimitRule[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly ready = new Set<WebSocket>();
  private seq = 0;
  private reqSeq = 0;
  private server!: http.Server;
  private wss!: WebSocketServer;
  private heartbeatIntervalMs: number;
  readonly ackDeadlineMs: number;
  port = 0;

  private constructor(opts: FakeDiscordOptions = {}) {
    super();
    this.setMaxListeners(100);
    this.token = opts.token ?? `fake.${Buffer.from(snowflake()).toString('base64url')}.token`;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 41250;
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 3000;
    this.guildName = opts.guildName ?? 'Reverie Test Guild';
    this.botUser = { id: this.appId, username: opts.botName ?? 'Reverie', global_name: null, bot: true, roles: [this.botRoleId] };
    this.users.set(this.botUser.id, this.botUser);
    this.roles = [
      role(this.guildId, '@everyone', EVERYONE_PERMS, 0),
      role(this.modRoleId, 'Moderator', EVERYONE_PERMS | P.ManageMessages, 1),
      role(this.adminRoleId, 'Admin', EVERYONE_PERMS | P.ManageMessages | P.ManageGuild, 2),
      role(this.botRoleId, 'Reverie', BOT_PERMS, 3, true),
    ];
    this.channelId = this.addChannel('general').id;
  }

  static async start(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    const fake = new FakeDiscord(opts);
    await fake.listen();
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** what discord.js takes as `rest.api` (it appends /v10) */
  get apiBase(): string {
    return `${this.baseUrl}/api`;
  }
  get gatewayUrl(): string {
    return `ws://127.0.0.1:${this.port}/gateway`;
  }
  /** the host:port of the fake CDN, for the bot's allowed attachment hosts */
  get cdnHost(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async listen(): Promise<void> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: String(err), code: 0 }));
      });
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/gateway')) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ───────────────────────────── setup helpers ─────────────────────────────

  addUser(username: string, opts: { mod?: boolean; admin?: boolean; roles?: string[] } = {}): FakeMemberUser {
    const roles = [...(opts.roles ?? [])];
    if (opts.mod) roles.push(this.modRoleId);
    if (opts.admin) roles.push(this.adminRoleId);
    const user: FakeMemberUser = { id: snowflake(), username, global_name: username[0]!.toUpperCase() + username.slice(1), roles };
    this.users.set(user.id, user);
    return user;
  }

  addChannel(name: string, opts: { type?: number; denyThreads?: boolean } = {}): FakeChannel {
    const ch: FakeChannel = {
      id: snowflake(),
      type: opts.type ?? 0,
      name,
      guild_id: this.guildId,
      parent_id: null,
      position: this.channels.size,
      permission_overwrites: [],
      denyThreads: opts.denyThreads,
    };
    if (opts.denyThreads) {
      ch.permission_overwrites.push({ id: this.botRoleId, type: 0, allow: '0', deny: String(P.CreatePublicThreads) });
    }
    this.channels.set(ch.id, ch);
    return ch;
  }

  permissionsOf(user: FakeMemberUser): bigint {
    let p = 0n;
    for (const r of this.roles) if (r.id === this.guildId || user.roles.includes(r.id)) p |= BigInt(r.permissions);
    if (p & P.Administrator) p = (1n << 50n) - 1n;
    return p;
  }

  /** The next `count` requests matching method/route (pattern like '/channels/:channel/messages/:message') get a 429. */
  rateLimitNext(opts: { method?: string; route?: string | RegExp; count?: number; retryAfter: number }): void {
    this.rateLimits.push({ method: opts.method, route: opts.route, remaining: opts.count ?? 1, retryAfter: opts.retryAfter });
  }

  /** Mark an interaction's token as expired: webhook calls with it answer 401 / 50027. */
  expireInteraction(idOrToken: string): void {
    for (const it of this.interactions.values()) if (it.id === idOrToken || it.token === idOrToken) it.expired = true;
  }

  /** A user (not the bot) deletes a message. */
  deleteMessage(messageId: string): void {
    const m = this.messages.get(messageId);
    if (!m) return;
    m.deleted = true;
    this.dispatch('MESSAGE_DELETE', { id: m.id, channel_id: m.channel_id, guild_id: m.guild_id });
  }

  /** Put a file on the fake CDN; returns the attachment object as Discord would put it in `resolved`. */
  addCdnFile(
    data: Buffer,
    opts: {
      filename: string;
      contentType?: string;
      /** what the attachment object claims (defaults to the truth) */
      declaredSize?: number;
      declaredContentType?: string;
      width?: number;
      height?: number;
      stream?: { chunk: number; delayMs: number };
      endless?: boolean;
    },
  ): FakeAttachment {
    const id = snowflake();
    const path = `/attachments/${this.channelId}/${id}/${encodeURIComponent(opts.filename)}`;
    this.cdnFiles.set(path, {
      data,
      contentType: opts.contentType ?? 'application/octet-stream',
      stream: opts.stream,
      endless: opts.endless,
      bytesSent: 0,
      aborted: false,
      requests: 0,
    });
    const q = `?ex=${Date.now().toString(16)}&is=0&hm=deadbeef`;
    return {
      id,
      filename: opts.filename,
      size: opts.declaredSize ?? data.length,
      content_type: opts.declaredContentType ?? opts.contentType,
      url: `${this.baseUrl}/cdn${path}${q}`,
      proxy_url: `${this.baseUrl}/media${path}${q}`,
      width: opts.width,
      height: opts.height,
      ephemeral: true,
    };
  }

  cdnStats(att: FakeAttachment): { requests: number; bytesSent: number; aborted: boolean } | undefined {
    const path = new URL(att.url).pathname.replace(/^\/(cdn|media)/, '');
    const f = this.cdnFiles.get(path);
    return f && { requests: f.requests, bytesSent: f.bytesSent, aborted: f.aborted };
  }

  // ───────────────────────────── assertions helpers ─────────────────────────────

  find(pred: (r: RecordedRequest) => boolean): RecordedRequest[] {
    return this.requests.filter(pred);
  }
  byRoute(route: string): RecordedRequest[] {
    return this.requests.filter((r) => r.route === route);
  }
  /** Wait for a recorded request matching pred (past ones count unless `after` seq is given). */
  waitForRequest(pred: (r: RecordedRequest) => boolean, opts: { timeout?: number; after?: number } = {}): Promise<RecordedRequest> {
    const after = opts.after ?? -1;
    const hit = this.requests.find((r) => r.seq > after && pred(r));
    if (hit) return Promise.resolve(hit);
    return this.waitForEvent<RecordedRequest>('request', (r) => r.seq > after && pred(r), opts.timeout, 'request');
  }
  /** Poll a condition (evaluated on every request and every 20 ms) until it returns a truthy value. */
  async waitFor<T>(cond: () => T | undefined | null | false, opts: { timeout?: number; what?: string } = {}): Promise<T> {
    const timeout = opts.timeout ?? 15000;
    const start = Date.now();
    for (;;) {
      const v = cond();
      if (v) return v;
      if (Date.now() - start > timeout) throw new Error(`fake-discord: timed out waiting for ${opts.what ?? 'condition'}`);
      await sleep(20);
    }
  }
  private waitForEvent<T>(event: string, pred: (v: T) => boolean, timeout = 15000, what = event): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(event, on);
        reject(new Error(`fake-discord: timed out after ${timeout} ms waiting for ${what}`));
      }, timeout);
      const on = (v: T) => {
        if (!pred(v)) return;
        clearTimeout(timer);
        this.off(event, on);
        resolve(v);
      };
      this.on(event, on);
    });
  }

  channelMessages(channelId: string): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.channel_id === channelId && !m.deleted);
  }
  threadOf(messageId: string): FakeChannel | undefined {
    const m = this.messages.get(messageId);
    return m?.thread_id ? this.channels.get(m.thread_id) : undefined;
  }
  /** Bytes of a stored attachment (uploaded by the bot). */
  attachmentData(att: FakeAttachment): Buffer | undefined {
    const path = new URL(att.url).pathname.replace(/^\/(cdn|media)/, '');
    return this.cdnFiles.get(path)?.data;
  }

  // ───────────────────────────── gateway-side helpers ─────────────────────────────

  /** Wait until a client identified and got READY + GUILD_CREATE. */
  waitForReadyClient(timeout = 15000): Promise<void> {
    if (this.ready.size > 0) return Promise.resolve();
    return this.waitForEvent<void>('ready', () => true, timeout, 'a client to identify');
  }

  dispatch(t: string, d: unknown): void {
    for (const ws of this.ready) this.send(ws, { op: 0, t, s: ++this.seq, d });
  }

  private member(user: FakeMemberUser): Json {
    return {
      user: publicUser(user),
      roles: user.roles,
      nick: null,
      avatar: null,
      joined_at: new Date(0).toISOString(),
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
    };
  }

  private channelJson(ch: FakeChannel): Json {
    const j: Json = {
      id: ch.id,
      type: ch.type,
      name: ch.name,
      guild_id: ch.guild_id,
      parent_id: ch.parent_id,
      position: ch.position,
      permission_overwrites: ch.permission_overwrites,
      nsfw: false,
      topic: null,
      rate_limit_per_user: 0,
      last_message_id: null,
      flags: 0,
    };
    if (ch.type === 11 || ch.type === 12) {
      j.owner_id = ch.owner_id;
      j.thread_metadata = ch.thread_metadata;
      j.message_count = this.channelMessages(ch.id).length;
      j.member_count = 1;
      j.total_message_sent = j.message_count;
      delete j.position;
      delete j.permission_overwrites;
    }
    return j;
  }

  private interactionBase(type: number, user: FakeMemberUser, channelId: string): { payload: Json; state: InteractionState } {
    const id = snowflake();
    const token = `aW50ZXJhY3Rpb24.${id}.${Math.random().toString(36).slice(2)}`;
    const ch = this.channels.get(channelId);
    if (!ch) throw new Error(`fake-discord: no channel ${channelId}`);
    const state: InteractionState = {
      id,
      token,
      applicationId: this.appId,
      channelId,
      guildId: this.guildId,
      user,
      createdAt: Date.now(),
      acknowledged: false,
      ephemeral: false,
      expired: false,
      followups: [],
    };
    this.interactions.set(token, state);
    const payload: Json = {
      id,
      application_id: this.appId,
      type,
      token,
      version: 1,
      guild_id: this.guildId,
      guild: { id: this.guildId, locale: 'en-US', features: [] },
      channel_id: channelId,
      channel: this.channelJson(ch),
      member: { ...this.member(user), permissions: String(this.permissionsOf(user)) },
      locale: 'en-US',
      guild_locale: 'en-US',
      app_permissions: String(this.permissionsOf(this.botUser)),
      entitlements: [],
      authorizing_integration_owners: { '0': this.guildId },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
    };
    return { payload, state };
  }

  /**
   * Send INTERACTION_CREATE for a slash command. `options` are raw API options
   * ({ name, type, value } / subcommands). Attachment option values are attachment ids; pass the
   * attachment objects (from addCdnFile) in `attachments` so they land in `data.resolved.attachments`.
   */
  slashCommand(opts: {
    name: string;
    user: FakeMemberUser;
    options?: Json[];
    attachments?: FakeAttachment[];
    channelId?: string;
  }): { id: string; token: string } {
    const { payload, state } = this.interactionBase(2, opts.user, opts.channelId ?? this.channelId);
    const cmd = [...this.commands.guild.values()].flat().concat(this.commands.global).find((c) => c.name === opts.name);
    payload.data = {
      id: cmd?.id ?? snowflake(),
      name: opts.name,
      type: 1,
      guild_id: this.guildId,
      options: opts.options ?? [],
      resolved: opts.attachments?.length
        ? { attachments: Object.fromEntries(opts.attachments.map((a) => [a.id, a])) }
        : undefined,
    };
    if (!payload.data.resolved) delete payload.data.resolved;
    this.dispatch('INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token };
  }

  /**
   * A member posts a message (text and/or attachments from addCdnFile). `voice` makes it a voice
   * message as Discord's clients send them: one Ogg/Opus attachment with duration_secs and waveform,
   * and the IS_VOICE_MESSAGE flag (1 << 13). Sends MESSAGE_CREATE; returns the stored message.
   */
  postAsMember(opts: { user: FakeMemberUser; content?: string; attachments?: FakeAttachment[]; voice?: { durationSecs: number }; channelId?: string }): StoredMessage {
    const channelId = opts.channelId ?? this.channelId;
    const ch = this.channel(channelId);
    const now = new Date().toISOString();
    const attachments = (opts.attachments ?? []).map((a) => {
      const { ephemeral: _e, ...rest } = a;
      return opts.voice ? { ...rest, duration_secs: opts.voice.durationSecs, waveform: Buffer.alloc(Math.max(1, Math.round(opts.voice.durationSecs * 10)), 128).toString('base64') } : rest;
    });
    const msg: StoredMessage = {
      id: snowflake(),
      channel_id: channelId,
      guild_id: ch.guild_id,
      author: publicUser(opts.user),
      content: opts.content ?? '',
      embeds: [],
      components: [],
      attachments,
      flags: opts.voice ? 1 << 13 : 0,
      type: 0,
      timestamp: now,
      edited_timestamp: null,
      reactions: new Map(),
      deleted: false,
      history: [{ at: Date.now(), content: opts.content ?? '', embeds: [], components: [], attachments: attachments.map((a) => a.filename) }],
    };
    this.messages.set(msg.id, msg);
    this.dispatch('MESSAGE_CREATE', { ...this.messageJson(msg), member: this.member(opts.user) });
    return msg;
  }

  /** Send INTERACTION_CREATE for a message context-menu command (Apps → name) on a stored message. */
  messageCommand(opts: { name: string; messageId: string; user: FakeMemberUser }): { id: string; token: string } {
    const msg = this.messages.get(opts.messageId);
    if (!msg) throw new Error(`fake-discord: no message ${opts.messageId}`);
    const { payload, state } = this.interactionBase(2, opts.user, msg.channel_id);
    const cmd = [...this.commands.guild.values()].flat().concat(this.commands.global).find((c) => c.name === opts.name && c.type === 3);
    payload.data = {
      id: cmd?.id ?? snowflake(),
      name: opts.name,
      type: 3,
      guild_id: this.guildId,
      target_id: msg.id,
      resolved: { messages: { [msg.id]: this.messageJson(msg) } },
    };
    this.dispatch('INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token };
  }

  /** Send INTERACTION_CREATE for a button press on a stored message. */
  clickButton(opts: { messageId: string; customId: string; user: FakeMemberUser }): { id: string; token: string } {
    const msg = this.messages.get(opts.messageId);
    if (!msg) throw new Error(`fake-discord: no message ${opts.messageId}`);
    const { payload, state } = this.interactionBase(3, opts.user, msg.channel_id);
    state.sourceMessageId = msg.id;
    payload.message = this.messageJson(msg);
    payload.data = { custom_id: opts.customId, component_type: 2 };
    this.dispatch('INTERACTION_CREATE', payload);
    return { id: state.id, token: state.token };
  }

  /** A member reacts to a message: records it and sends MESSAGE_REACTION_ADD. */
  react(opts: { messageId: string; user: FakeMemberUser; emoji: string }): void {
    const msg = this.messages.get(opts.messageId);
    if (!msg) throw new Error(`fake-discord: no message ${opts.messageId}`);
    addReaction(msg, opts.emoji, opts.user.id);
    this.dispatch('MESSAGE_REACTION_ADD', {
      user_id: opts.user.id,
      type: 0,
      message_id: msg.id,
      message_author_id: msg.author.id,
      member: this.member(opts.user),
      emoji: { id: null, name: opts.emoji },
      channel_id: msg.channel_id,
      guild_id: msg.guild_id,
      burst: false,
      burst_colors: [],
    });
  }

  interactionState(idOrToken: string): InteractionState | undefined {
    for (const it of this.interactions.values()) if (it.id === idOrToken || it.token === idOrToken) return it;
    return undefined;
  }

  // ───────────────────────────── gateway ─────────────────────────────

  private send(ws: WebSocket, payload: Json): void {
    this.gatewayEvents.push({ at: Date.now(), op: payload.op, t: payload.t, d: payload.d });
    ws.send(JSON.stringify(payload));
  }

  private onSocket(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.ready.delete(ws);
    });
    ws.on('error', () => undefined);
    this.send(ws, { op: 10, d: { heartbeat_interval: this.heartbeatIntervalMs } });
    ws.on('message', (raw) => {
      let msg: Json;
      try {
        msg = JSON.parse(String(raw));
      } catch {
        ws.close(4002, 'Decode error');
        return;
      }
      switch (msg.op) {
        case 1:
          this.send(ws, { op: 11 });
          break;
        case 2: {
          if (msg.d?.token !== this.token) {
            ws.close(4004, 'Authentication failed.');
            return;
          }
          this.identifies.push({ intents: msg.d.intents, properties: msg.d.properties, shard: msg.d.shard });
          const sessionId = snowflake();
          this.send(ws, {
            op: 0,
            t: 'READY',
            s: ++this.seq,
            d: {
              v: 10,
              user: { ...publicUser(this.botUser), verified: true, mfa_enabled: false, flags: 0 },
              guilds: [{ id: this.guildId, unavailable: true }],
              session_id: sessionId,
              resume_gateway_url: this.gatewayUrl,
              shard: msg.d.shard ?? [0, 1],
              application: { id: this.appId, flags: 0 },
              private_channels: [],
              relationships: [],
              presences: [],
              guild_join_requests: [],
              geo_ordered_rtc_regions: [],
              user_settings: {},
            },
          });
          this.send(ws, { op: 0, t: 'GUILD_CREATE', s: ++this.seq, d: this.guildJson(true) });
          this.ready.add(ws);
          this.emit('ready');
          break;
        }
        case 6:
          if (msg.d?.token !== this.token) {
            ws.close(4004, 'Authentication failed.');
            return;
          }
          this.send(ws, { op: 0, t: 'RESUMED', s: ++this.seq, d: {} });
          this.ready.add(ws);
          this.emit('ready');
          break;
        default:
          break; // presence updates, member requests: ignored
      }
    });
  }

  /** Make every connected client reconnect (op 7), as Discord does now and then. */
  requestReconnect(): void {
    for (const ws of this.ready) this.send(ws, { op: 7, d: null });
  }

  guildJson(full: boolean): Json {
    const members = [...this.users.values()].map((u) => this.member(u));
    const g: Json = {
      id: this.guildId,
      name: this.guildName,
      icon: null,
      splash: null,
      discovery_splash: null,
      owner_id: [...this.users.values()].find((u) => !u.bot)?.id ?? this.appId,
      afk_channel_id: null,
      afk_timeout: 300,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      roles: this.roles,
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: 0,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: 0,
      rules_channel_id: null,
      vanity_url_code: null,
      description: null,
      banner: null,
      premium_tier: 0,
      premium_subscription_count: 0,
      preferred_locale: 'en-US',
      public_updates_channel_id: null,
      nsfw_level: 0,
      premium_progress_bar_enabled: false,
      max_members: 500000,
    };
    if (full) {
      Object.assign(g, {
        joined_at: new Date(0).toISOString(),
        large: false,
        unavailable: false,
        member_count: members.length,
        members,
        channels: [...this.channels.values()].filter((c) => c.type !== 11 && c.type !== 12).map((c) => this.channelJson(c)),
        threads: [...this.channels.values()].filter((c) => c.type === 11 || c.type === 12).map((c) => this.channelJson(c)),
        presences: [],
        voice_states: [],
        stage_instances: [],
        guild_scheduled_events: [],
        soundboard_sounds: [],
      });
    }
    return g;
  }

  // ───────────────────────────── REST ─────────────────────────────

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    if (url.pathname.startsWith('/cdn/') || url.pathname.startsWith('/media/')) {
      await this.serveCdn(url, req, res);
      return;
    }
    const m = /^\/api(?:\/v(\d+))?(\/.*)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const path = m[2]!;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const { body, files } = await parseBody(req.headers['content-type'] ?? '', raw);
    const authHeader = req.headers.authorization;
    const auth: RecordedRequest['auth'] = !authHeader ? 'none' : authHeader === `Bot ${this.token}` ? 'bot' : 'bad';
    const method = req.method ?? 'GET';
    const matched = matchRoute(method, path);
    const rec: RecordedRequest = {
      seq: ++this.reqSeq,
      at: Date.now(),
      method,
      path,
      route: `${method} ${matched?.pattern ?? path}`,
      params: matched?.params ?? {},
      query: Object.fromEntries(url.searchParams),
      auth,
      body,
      files,
      status: 0,
      response: null,
    };

    let status = 200;
    let out: unknown = null;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const limit = this.rateLimits.find(
      (r) =>
        r.remaining > 0 &&
        (!r.method || r.method === method) &&
        (!r.route || (typeof r.route === 'string' ? matched?.pattern === r.route : r.route.test(path))),
    );
    if (limit) {
      limit.remaining--;
      status = 429;
      out = { message: 'You are being rate limited.', retry_after: limit.retryAfter, global: false };
      Object.assign(headers, {
        'retry-after': String(limit.retryAfter),
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset-after': String(limit.retryAfter),
        'x-ratelimit-reset': String((Date.now() + limit.retryAfter * 1000) / 1000),
        'x-ratelimit-bucket': `fake-${Buffer.from(matched?.pattern ?? path).toString('hex').slice(0, 16)}`,
        'x-ratelimit-scope': 'user',
      });
    } else if (!matched) {
      status = 404;
      out = { message: '404: Not Found', code: 0 };
    } else if (auth === 'bad') {
      status = 401;
      out = { message: '401: Unauthorized', code: 0 };
    } else {
      try {
        const needsBot = !path.startsWith('/interactions/') && !path.startsWith('/webhooks/');
        if (needsBot && auth !== 'bot') throw new HttpError(401, { message: '401: Unauthorized', code: 0 });
        const r = this.route(method, matched.pattern, matched.params, body, files, url.searchParams);
        if (r === undefined) status = 204;
        else out = r;
      } catch (err) {
        if (err instanceof HttpError) {
          status = err.status;
          out = err.body;
        } else throw err;
      }
    }
    rec.status = status;
    rec.response = out;
    this.requests.push(rec);
    if (status === 204) res.writeHead(204, {}).end();
    else res.writeHead(status, headers).end(JSON.stringify(out));
    this.emit('request', rec);
  }

  private route(method: string, pattern: string, p: Record<string, string>, body: Json | null, files: RecordedFile[], query: URLSearchParams): unknown {
    const key = `${method} ${pattern}`;
    switch (key) {
      case 'GET /gateway/bot':
        return {
          url: this.gatewayUrl,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 999, reset_after: 14400000, max_concurrency: 1 },
        };
      case 'GET /gateway':
        return { url: this.gatewayUrl };
      case 'GET /users/@me':
        return publicUser(this.botUser);
      case 'GET /users/:user': {
        const u = this.users.get(p.user!);
        if (!u) throw notFound('User', 10013);
        return publicUser(u);
      }
      case 'GET /applications/@me':
        return { id: this.appId, name: this.botUser.username, flags: 0, bot_public: false, bot_require_code_grant: false, description: '', icon: null, verify_key: 'x' };
      case 'GET /applications/:app/commands':
        return this.commands.global;
      case 'PUT /applications/:app/commands':
        this.checkApp(p.app!);
        this.commands.global = (body as unknown as Json[]).map((c) => this.commandJson(c));
        return this.commands.global;
      case 'POST /applications/:app/commands': {
        this.checkApp(p.app!);
        const c = this.commandJson(body!);
        this.commands.global = this.commands.global.filter((x) => x.name !== c.name).concat(c);
        return c;
      }
      case 'GET /applications/:app/guilds/:guild/commands':
        return this.commands.guild.get(p.guild!) ?? [];
      case 'PUT /applications/:app/guilds/:guild/commands': {
        this.checkApp(p.app!);
        if (p.guild !== this.guildId) throw notFound('Guild', 10004);
        const list = (body as unknown as Json[]).map((c) => this.commandJson(c, p.guild));
        this.commands.guild.set(p.guild!, list);
        return list;
      }
      case 'POST /applications/:app/guilds/:guild/commands': {
        this.checkApp(p.app!);
        const c = this.commandJson(body!, p.guild);
        this.commands.guild.set(p.guild!, (this.commands.guild.get(p.guild!) ?? []).filter((x) => x.name !== c.name).concat(c));
        return c;
      }
      case 'POST /interactions/:interaction/:token/callback':
        return this.interactionCallback(p.interaction!, p.token!, body, files, query);
      case 'GET /webhooks/:app/:token/messages/:message':
      case 'PATCH /webhooks/:app/:token/messages/:message':
      case 'DELETE /webhooks/:app/:token/messages/:message': {
        const it = this.webhookInteraction(p.app!, p.token!);
        const id = p.message === '@original' ? it.originalMessageId : p.message;
        const msg = id ? this.messages.get(id) : undefined;
        if (!msg || msg.deleted || (p.message !== '@original' && !it.followups.includes(id!) && id !== it.originalMessageId)) {
          throw notFound('Message', 10008);
        }
        if (method === 'GET') return this.messageJson(msg);
        if (method === 'DELETE') {
          msg.deleted = true;
          return undefined;
        }
        if (msg.flags & 128) msg.flags &= ~128; // the "thinking…" state ends with the first edit
        this.applyEdit(msg, body ?? {}, files);
        return this.messageJson(msg);
      }
      case 'POST /webhooks/:app/:token': {
        const it = this.webhookInteraction(p.app!, p.token!);
        const flags = Number(body?.flags ?? 0);
        const msg = this.createMessage(it.channelId, body ?? {}, files, { flags, interaction: it });
        it.followups.push(msg.id);
        return this.messageJson(msg);
      }
      case 'GET /channels/:channel':
        return this.channelJson(this.channel(p.channel!));
      case 'GET /channels/:channel/messages': {
        this.channel(p.channel!);
        const limit = Number(query.get('limit') ?? 50);
        return this.channelMessages(p.channel!)
          .filter((m) => !(m.flags & 64))
          .reverse()
          .slice(0, limit)
          .map((m) => this.messageJson(m));
      }
      case 'POST /channels/:channel/messages': {
        const ch = this.channel(p.channel!);
        if (ch.thread_metadata?.archived) ch.thread_metadata.archived = false;
        const msg = this.createMessage(ch.id, body ?? {}, files, {});
        return this.messageJson(msg);
      }
      case 'GET /channels/:channel/messages/:message':
        return this.messageJson(this.message(p.channel!, p.message!));
      case 'PATCH /channels/:channel/messages/:message': {
        const msg = this.message(p.channel!, p.message!);
        if (msg.author.id !== this.appId) {
          const onlyFlags = body && Object.keys(body).every((k) => k === 'flags');
          if (!onlyFlags) throw new HttpError(403, { message: 'Cannot edit a message authored by another user', code: 50005 });
        }
        if (msg.flags & 128) msg.flags &= ~128;
        this.applyEdit(msg, body ?? {}, files);
        return this.messageJson(msg);
      }
      case 'DELETE /channels/:channel/messages/:message': {
        const msg = this.message(p.channel!, p.message!);
        msg.deleted = true;
        return undefined;
      }
      case 'POST /channels/:channel/messages/:message/threads': {
        const ch = this.channel(p.channel!);
        const msg = this.message(p.channel!, p.message!);
        if (ch.type !== 0 && ch.type !== 5) throw new HttpError(400, { message: 'Cannot execute action on this channel type', code: 50024 });
        if (ch.denyThreads) throw new HttpError(403, { message: 'Missing Permissions', code: 50013 });
        if (msg.thread_id) throw new HttpError(400, { message: 'A thread has already been created for this message', code: 160004 });
        const thread: FakeChannel = {
          id: msg.id,
          type: 11,
          name: String(body?.name ?? 'thread').slice(0, 100),
          guild_id: ch.guild_id,
          parent_id: ch.id,
          position: 0,
          permission_overwrites: [],
          owner_id: this.appId,
          thread_metadata: {
            archived: false,
            auto_archive_duration: Number(body?.auto_archive_duration ?? 1440),
            archive_timestamp: new Date().toISOString(),
            locked: false,
            create_timestamp: new Date().toISOString(),
          },
        };
        this.channels.set(thread.id, thread);
        msg.thread_id = thread.id;
        const json = this.channelJson(thread);
        this.dispatch('THREAD_CREATE', { ...json, newly_created: true });
        return json;
      }
      case 'PUT /channels/:channel/messages/:message/reactions/:emoji/@me': {
        const msg = this.message(p.channel!, p.message!);
        addReaction(msg, p.emoji!, this.appId);
        return undefined;
      }
      case 'DELETE /channels/:channel/messages/:message/reactions/:emoji/@me':
      case 'DELETE /channels/:channel/messages/:message/reactions/:emoji/:user': {
        const msg = this.message(p.channel!, p.message!);
        msg.reactions.get(p.emoji!)?.delete(p.user ?? this.appId);
        return undefined;
      }
      case 'GET /channels/:channel/messages/:message/reactions/:emoji': {
        const msg = this.message(p.channel!, p.message!);
        return [...(msg.reactions.get(p.emoji!) ?? [])].map((id) => publicUser(this.users.get(id)!));
      }
      case 'GET /guilds/:guild':
        this.guild(p.guild!);
        return this.guildJson(false);
      case 'GET /guilds/:guild/channels':
        this.guild(p.guild!);
        return [...this.channels.values()].filter((c) => c.type !== 11).map((c) => this.channelJson(c));
      case 'GET /guilds/:guild/roles':
        this.guild(p.guild!);
        return this.roles;
      case 'GET /guilds/:guild/members/:user': {
        this.guild(p.guild!);
        const u = this.users.get(p.user!);
        if (!u) throw notFound('Member', 10007);
        return this.member(u);
      }
      default:
        throw new HttpError(404, { message: '404: Not Found', code: 0 });
    }
  }

  private checkApp(app: string): void {
    if (app !== this.appId) throw notFound('Application', 10002);
  }
  private guild(id: string): void {
    if (id !== this.guildId) throw notFound('Guild', 10004);
  }
  private channel(id: string): FakeChannel {
    const ch = this.channels.get(id);
    if (!ch) throw notFound('Channel', 10003);
    return ch;
  }
  private message(channelId: string, id: string): StoredMessage {
    this.channel(channelId);
    const msg = this.messages.get(id);
    if (!msg || msg.deleted || msg.channel_id !== channelId || msg.flags & 64) throw notFound('Message', 10008);
    return msg;
  }

  private webhookInteraction(app: string, token: string): InteractionState {
    const it = this.interactions.get(token);
    if (!it || app !== it.applicationId) throw notFound('Webhook', 10015);
    if (it.expired) throw new HttpError(401, { message: 'Invalid Webhook Token', code: 50027 });
    return it;
  }

  private commandJson(c: Json, guildId?: string): Json {
    return {
      id: snowflake(),
      application_id: this.appId,
      version: snowflake(),
      type: 1,
      guild_id: guildId,
      default_member_permissions: null,
      nsfw: false,
      ...c,
    };
  }

  private interactionCallback(id: string, token: string, body: Json | null, files: RecordedFile[], query: URLSearchParams): unknown {
    const it = this.interactions.get(token);
    if (!it || it.id !== id) throw notFound('interaction', 10062);
    if (it.expired || Date.now() - it.createdAt > this.ackDeadlineMs) throw notFound('interaction', 10062);
    if (it.acknowledged) throw new HttpError(400, { message: 'Interaction has already been acknowledged.', code: 40060 });
    const type = Number(body?.type);
    const data: Json = body?.data ?? {};
    const flags = Number(data.flags ?? 0);
    it.acknowledged = true;
    it.responseType = type;
    it.ephemeral = Boolean(flags & 64);
    let msg: StoredMessage | undefined;
    switch (type) {
      case 1:
        break;
      case 4:
        msg = this.createMessage(it.channelId, data, files, { flags, interaction: it });
        it.originalMessageId = msg.id;
        break;
      case 5:
        msg = this.createMessage(it.channelId, { content: '' }, [], { flags: (flags & 64) | 128, interaction: it });
        it.originalMessageId = msg.id;
        break;
      case 6:
        it.originalMessageId = it.sourceMessageId;
        break;
      case 7: {
        it.originalMessageId = it.sourceMessageId;
        msg = it.sourceMessageId ? this.messages.get(it.sourceMessageId) : undefined;
        if (!msg) throw new HttpError(400, { message: 'Invalid Form Body', code: 50035 });
        this.applyEdit(msg, data, files);
        break;
      }
      case 9:
      case 8:
        break;
      default:
        it.acknowledged = false;
        throw new HttpError(400, { message: 'Invalid Form Body', code: 50035, errors: { type: 'bad interaction response type' } });
    }
    if (query.get('with_response') === 'true') {
      return {
        interaction: { id: it.id, type: 2, response_message_id: msg?.id, response_message_loading: type === 5, response_message_ephemeral: it.ephemeral },
        resource: { type, message: msg ? this.messageJson(msg) : undefined },
      };
    }
    return undefined;
  }

  private createMessage(channelId: string, data: Json, files: RecordedFile[], opts: { flags?: number; interaction?: InteractionState }): StoredMessage {
    const ch = this.channel(channelId);
    const now = new Date().toISOString();
    const msg: StoredMessage = {
      id: snowflake(),
      channel_id: channelId,
      guild_id: ch.guild_id,
      author: publicUser(this.botUser),
      content: '',
      embeds: [],
      components: [],
      attachments: [],
      flags: opts.flags ?? Number(data.flags ?? 0),
      type: opts.interaction ? 20 : 0,
      timestamp: now,
      edited_timestamp: null,
      reactions: new Map(),
      deleted: false,
      history: [],
    };
    if (opts.interaction) {
      const it = opts.interaction;
      msg.webhook_id = it.applicationId;
      msg.application_id = it.applicationId;
      msg.interaction_metadata = {
        id: it.id,
        type: 2,
        user: publicUser(it.user),
        authorizing_integration_owners: { '0': it.guildId },
      };
    }
    this.messages.set(msg.id, msg);
    this.applyEdit(msg, data, files, true);
    return msg;
  }

  private applyEdit(msg: StoredMessage, data: Json, files: RecordedFile[], creating = false): void {
    if ('content' in data) msg.content = String(data.content ?? '');
    if ('embeds' in data) msg.embeds = data.embeds ?? [];
    if ('components' in data) msg.components = data.components ?? [];
    if ('flags' in data && !creating) msg.flags = (msg.flags & ~(4 | 64)) | (Number(data.flags) & 4) | (msg.flags & 64);
    const uploaded = files.map((f, index) => this.storeUpload(msg.channel_id, f, index));
    if (Array.isArray(data.attachments)) {
      const next: FakeAttachment[] = [];
      for (const a of data.attachments as Json[]) {
        const existing = msg.attachments.find((x) => x.id === String(a.id));
        if (existing) next.push(existing);
        else {
          const up = uploaded[Number(a.id)];
          if (up) next.push(up);
        }
      }
      for (const up of uploaded) if (!next.includes(up)) next.push(up);
      msg.attachments = next;
    } else if (uploaded.length) {
      msg.attachments = [...msg.attachments, ...uploaded];
    }
    if (!creating) msg.edited_timestamp = new Date().toISOString();
    msg.history.push({
      at: Date.now(),
      content: msg.content,
      embeds: msg.embeds,
      components: msg.components,
      attachments: msg.attachments.map((a) => a.filename),
    });
  }

  private storeUpload(channelId: string, f: RecordedFile, _index: number): FakeAttachment {
    const id = snowflake();
    const path = `/attachments/${channelId}/${id}/${encodeURIComponent(f.filename)}`;
    this.cdnFiles.set(path, { data: f.data, contentType: f.contentType, bytesSent: 0, aborted: false, requests: 0 });
    const size = imageSize(f.data);
    return {
      id,
      filename: f.filename,
      size: f.data.length,
      content_type: f.contentType,
      url: `${this.baseUrl}/cdn${path}`,
      proxy_url: `${this.baseUrl}/media${path}`,
      ...(size ?? {}),
    };
  }

  messageJson(msg: StoredMessage): Json {
    const j: Json = {
      id: msg.id,
      type: msg.type,
      channel_id: msg.channel_id,
      guild_id: msg.guild_id,
      author: msg.author,
      content: msg.content,
      embeds: msg.embeds,
      components: msg.components,
      attachments: msg.attachments.map(({ ephemeral: _e, ...a }) => a),
      flags: msg.flags,
      timestamp: msg.timestamp,
      edited_timestamp: msg.edited_timestamp,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      pinned: false,
      position: undefined,
    };
    delete j.position;
    if (msg.reactions.size) {
      j.reactions = [...msg.reactions].filter(([, s]) => s.size).map(([name, users]) => ({
        emoji: { id: null, name },
        count: users.size,
        count_details: { burst: 0, normal: users.size },
        me: users.has(this.appId),
        me_burst: false,
        burst_colors: [],
      }));
    }
    if (msg.webhook_id) j.webhook_id = msg.webhook_id;
    if (msg.application_id) j.application_id = msg.application_id;
    if (msg.interaction_metadata) j.interaction_metadata = msg.interaction_metadata;
    if (msg.thread_id) {
      const t = this.channels.get(msg.thread_id);
      if (t) j.thread = this.channelJson(t);
    }
    return j;
  }

  // ───────────────────────────── CDN ─────────────────────────────

  private async serveCdn(url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = url.pathname.replace(/^\/(cdn|media)/, '');
    const f = this.cdnFiles.get(path);
    this.emit('cdn', { path, method: req.method });
    if (!f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    f.requests++;
    let closed = false;
    res.on('close', () => {
      closed = true;
      if (!res.writableFinished) f.aborted = true;
    });
    if (!f.stream && !f.endless) {
      res.writeHead(200, { 'content-type': f.contentType, 'content-length': String(f.data.length) });
      f.bytesSent += f.data.length;
      res.end(f.data);
      return;
    }
    res.writeHead(200, { 'content-type': f.contentType });
    const chunk = f.stream?.chunk ?? 64 * 1024;
    const delay = f.stream?.delayMs ?? 1;
    let off = 0;
    for (;;) {
      if (closed) return;
      let piece: Buffer;
      if (off < f.data.length) piece = f.data.subarray(off, off + chunk);
      else if (f.endless) piece = Buffer.alloc(chunk, 0x41);
      else break;
      off += piece.length;
      f.bytesSent += piece.length;
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r).once('close', r));
      if (off > 256 * 1024 * 1024) break; // never stream forever
      await sleep(delay);
    }
    if (!closed) res.end();
  }
}

function role(id: string, name: string, perms: bigint, position: number, managed = false): Json {
  return {
    id,
    name,
    color: 0,
    colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position,
    permissions: String(perms),
    managed,
    mentionable: false,
    flags: 0,
  };
}

function publicUser(u: FakeMemberUser): Json {
  return {
    id: u.id,
    username: u.username,
    discriminator: '0',
    global_name: u.global_name,
    avatar: null,
    bot: u.bot ?? false,
    system: false,
    public_flags: 0,
  };
}

function addReaction(msg: StoredMessage, emoji: string, userId: string): void {
  let set = msg.reactions.get(emoji);
  if (!set) msg.reactions.set(emoji, (set = new Set()));
  set.add(userId);
}

async function parseBody(contentType: string, raw: Buffer): Promise<{ body: Json | null; files: RecordedFile[] }> {
  if (!raw.length) return { body: null, files: [] };
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': contentType }, body: raw }).formData();
    let body: Json | null = null;
    const files: RecordedFile[] = [];
    for (const [field, value] of form.entries()) {
      if (field === 'payload_json' && typeof value === 'string') body = JSON.parse(value);
      else if (typeof value !== 'string') {
        files.push({ field, filename: value.name, contentType: value.type || 'application/octet-stream', data: Buffer.from(await value.arrayBuffer()) });
      }
    }
    return { body, files };
  }
  try {
    return { body: JSON.parse(raw.toString('utf8')), files: [] };
  } catch {
    return { body: { _raw: raw.toString('utf8') }, files: [] };
  }
}

/** width/height of a PNG, GIF or WebP (VP8X/VP8/VP8L), or undefined */
export function imageSize(b: Buffer): { width: number; height: number } | undefined {
  if (b.length > 24 && b.readUInt32BE(0) === 0x89504e47) return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length > 10 && b.toString('latin1', 0, 3) === 'GIF') return { width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length > 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') {
    const kind = b.toString('latin1', 12, 16);
    if (kind === 'VP8X') return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
    if (kind === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    if (kind === 'VP8L') {
      const bits = b.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
  }
  return undefined;
}
