import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttachmentBuilder, Client, Events, GatewayIntentBits, Partials, type ChatInputCommandInteraction } from 'discord.js';
import sharp from 'sharp';
import { FakeDiscord } from '../fake-discord/index.ts';

// The fake itself: a real discord.js Client logs in, receives interactions and talks REST to it.
describe('fake Discord', () => {
  let fake: FakeDiscord;
  let client: Client;

  beforeAll(async () => {
    fake = await FakeDiscord.start();
    client = new Client({
      intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessageReactions],
      partials: [Partials.Message, Partials.Reaction, Partials.User],
      rest: { api: fake.apiBase },
    });
    const ready = new Promise((r) => client.once(Events.ClientReady, r));
    await client.login(fake.token);
    await ready;
  });
  afterAll(async () => {
    await client?.destroy();
    await fake?.stop();
  });

  it('logs in over the gateway and sees the guild and channel', () => {
    expect(fake.identifies).toHaveLength(1);
    expect(client.user?.id).toBe(fake.appId);
    const guild = client.guilds.cache.get(fake.guildId);
    expect(guild?.channels.cache.get(fake.channelId)?.name).toBe('general');
    expect(fake.byRoute('GET /gateway/bot')).toHaveLength(1);
  });

  it('delivers slash commands with attachments, records callbacks, webhook edits and uploads', async () => {
    const alice = fake.addUser('alice');
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toBuffer();
    const att = fake.addCdnFile(png, { filename: 'a.png', contentType: 'image/png' });
    const got = new Promise<ChatInputCommandInteraction>((resolve) =>
      client.once(Events.InteractionCreate, (i) => i.isChatInputCommand() && resolve(i)),
    );
    fake.slashCommand({
      name: 'imagine',
      user: alice,
      options: [
        { name: 'prompt', type: 3, value: 'a cat' },
        { name: 'init_image', type: 11, value: att.id },
      ],
      attachments: [att],
    });
    const i = await got;
    expect(i.options.getString('prompt')).toBe('a cat');
    expect(i.options.getAttachment('init_image')?.url).toBe(att.url);
    await i.deferReply();
    const msg = await i.editReply({ content: 'hello', files: [new AttachmentBuilder(png, { name: 'x.png' })] });
    const cb = fake.byRoute('POST /interactions/:interaction/:token/callback')[0]!;
    expect(cb.body).toEqual({ type: 5, data: { flags: 0 } });
    expect(cb.auth).toBe('none');
    const edit = fake.byRoute('PATCH /webhooks/:app/:token/messages/:message')[0]!;
    expect(edit.files[0]!.filename).toBe('x.png');
    expect(fake.messages.get(msg.id)?.attachments[0]?.width).toBe(8);
    const res = await fetch(att.url);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(png);

    // bot-token edit, thread, reaction
    await msg.edit({ content: 'edited' });
    const thread = await msg.startThread({ name: 'snapshots' });
    await thread.send('in thread');
    await msg.react('🔁');
    expect(fake.messages.get(msg.id)?.content).toBe('edited');
    expect(fake.threadOf(msg.id)?.id).toBe(thread.id);
    expect(fake.channelMessages(thread.id)).toHaveLength(1);
    expect(fake.messages.get(msg.id)?.reactions.get('🔁')?.has(fake.appId)).toBe(true);
    expect(fake.byRoute('PATCH /channels/:channel/messages/:message')[0]!.auth).toBe('bot');

    // expired token
    fake.expireInteraction(i.id);
    await expect(i.editReply('late')).rejects.toMatchObject({ code: 50027, status: 401 });
  });

  it('answers a programmed 429 and discord.js waits retry_after before retrying', async () => {
    const ch = await client.channels.fetch(fake.channelId);
    if (!ch?.isSendable()) throw new Error('not sendable');
    const m = await ch.send('x');
    fake.rateLimitNext({ method: 'PATCH', route: '/channels/:channel/messages/:message', retryAfter: 0.4 });
    await m.edit('y');
    const edits = fake.byRoute('PATCH /channels/:channel/messages/:message').filter((r) => r.params.message === m.id);
    expect(edits.map((r) => r.status)).toEqual([429, 200]);
    expect(edits[1]!.at - edits[0]!.at).toBeGreaterThanOrEqual(390);
  });

  it('delivers button presses and reactions', async () => {
    const bob = fake.addUser('bob');
    const ch = await client.channels.fetch(fake.channelId);
    if (!ch?.isSendable()) throw new Error('not sendable');
    const m = await ch.send({ content: 'buttons', components: [{ type: 1, components: [{ type: 2, style: 2, custom_id: 'reroll:1', label: 'Re-roll' }] }] });
    const pressed = new Promise<string>((resolve) =>
      client.once(Events.InteractionCreate, async (i) => {
        if (!i.isButton()) return;
        await i.deferUpdate();
        resolve(`${i.customId}:${i.user.id}:${i.message.id}`);
      }),
    );
    fake.clickButton({ messageId: m.id, customId: 'reroll:1', user: bob });
    expect(await pressed).toBe(`reroll:1:${bob.id}:${m.id}`);
    const reacted = new Promise<string>((resolve) =>
      client.once(Events.MessageReactionAdd, (r, u) => resolve(`${r.emoji.name}:${u.id}:${r.message.id}`)),
    );
    fake.react({ messageId: m.id, user: bob, emoji: '🔁' });
    expect(await reacted).toBe(`🔁:${bob.id}:${m.id}`);
  });
});
