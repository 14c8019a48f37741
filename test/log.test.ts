import { describe, expect, it } from 'vitest';
import { createLogger, scrubLogText } from '../src/log.ts';

const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GxYzAb.abcdefghijklmnopqrstuvwxyz0123456789';

function capture(secrets: string[] = []) {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', secrets, destination: { write: (s: string) => void lines.push(s) } });
  return { log, lines };
}

describe('log redaction', () => {
  it('never writes the token, whether in a field, a message or an error', () => {
    const { log, lines } = capture([TOKEN]);
    log.info({ token: TOKEN, config: { discordToken: TOKEN }, headers: { authorization: `Bot ${TOKEN}` } }, 'login');
    log.warn(`retrying with ${TOKEN}`);
    log.error({ err: new Error(`401 for token ${TOKEN}`) }, 'failed');
    const text = lines.join('');
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('abcdefghijklmnopqrstuvwxyz0123456789');
    expect(text).toContain('[redacted]');
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  });

  it('redacts token-shaped strings even when not told the token', () => {
    const { log, lines } = capture();
    log.info({ note: `Authorization: Bot ${TOKEN}` }, 'x');
    expect(lines.join('')).not.toContain('GxYzAb.abcdef');
  });

  it('drops attachment URL query strings and interaction tokens', () => {
    const url = 'https://cdn.discordapp.com/attachments/1234/5678/cat.png?ex=66a1&is=669f&hm=deadbeefcafe&';
    const media = 'https://media.discordapp.net/attachments/1/2/a.webp?width=100&ex=1&hm=2';
    const fake = 'http://127.0.0.1:4000/attachments/1/2/a.png?hm=secret';
    const route = '/webhooks/123456789012345678/aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldHRva2Vu/messages/@original';
    const { log, lines } = capture();
    log.info({ url, attachments: [{ url: media }], fake }, `fetching ${url} via ${route}`);
    const text = lines.join('');
    expect(text).toContain('https://cdn.discordapp.com/attachments/1234/5678/cat.png');
    expect(text).not.toMatch(/ex=|hm=|is=669f|width=100/);
    expect(text).not.toContain('aW50ZXJhY3Rpb246');
    expect(text).toContain('/webhooks/123456789012345678/[redacted]/messages/@original');
    expect(() => JSON.parse(lines[0]!)).not.toThrow();
  });

  it('leaves ordinary text alone', () => {
    const s = '{"msg":"job 42 step 10/200 on cuda:0","url":"https://huggingface.co/timm/x/resolve/main/vocab.json"}';
    expect(scrubLogText(s)).toBe(s);
  });
});
