import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { AttachmentError, checkAttachmentMeta, DEFAULT_ATTACHMENT_POLICY, downloadImage, hostAllowed, sniffImage } from '../../src/bot/attachments.ts';

describe('attachment checks', () => {
  it('sniffs PNG, JPEG, WebP and GIF signatures', async () => {
    const base = sharp({ create: { width: 4, height: 4, channels: 3, background: '#123' } });
    expect(sniffImage(await base.clone().png().toBuffer())).toBe('png');
    expect(sniffImage(await base.clone().jpeg().toBuffer())).toBe('jpeg');
    expect(sniffImage(await base.clone().webp().toBuffer())).toBe('webp');
    expect(sniffImage(await base.clone().gif().toBuffer())).toBe('gif');
    expect(sniffImage(Buffer.from('<html><body>'))).toBeUndefined();
    expect(sniffImage(Buffer.from([0x89, 0x50]))).toBeUndefined();
  });

  it("downloads only from Discord's CDN over https (loopback http allowed for tests)", () => {
    const p = DEFAULT_ATTACHMENT_POLICY;
    expect(hostAllowed('https://cdn.discordapp.com/attachments/1/2/a.png?ex=1', p)).toBe(true);
    expect(hostAllowed('https://media.discordapp.net/attachments/1/2/a.png', p)).toBe(true);
    expect(hostAllowed('http://cdn.discordapp.com/attachments/1/2/a.png', p)).toBe(false);
    expect(hostAllowed('https://cdn.discordapp.com.evil.com/a.png', p)).toBe(false);
    expect(hostAllowed('https://user:pw@cdn.discordapp.com/a.png', p)).toBe(false);
    expect(hostAllowed('https://evil.com/a.png', p)).toBe(false);
    expect(hostAllowed('not a url', p)).toBe(false);
    expect(hostAllowed('http://127.0.0.1:9999/cdn/a.png', { allowedHosts: ['127.0.0.1:9999'] })).toBe(true);
    expect(hostAllowed('http://127.0.0.1:9998/cdn/a.png', { allowedHosts: ['127.0.0.1:9999'] })).toBe(false);
  });

  it('checks content type and declared size before downloading', () => {
    const a = { label: 'init_image', name: 'a.png', url: 'https://cdn.discordapp.com/a.png', size: 10, contentType: 'image/png' };
    expect(checkAttachmentMeta(a, DEFAULT_ATTACHMENT_POLICY)).toBe('png');
    expect(checkAttachmentMeta({ ...a, contentType: 'image/jpeg; charset=binary' }, DEFAULT_ATTACHMENT_POLICY)).toBe('jpeg');
    expect(() => checkAttachmentMeta({ ...a, contentType: 'video/mp4' }, DEFAULT_ATTACHMENT_POLICY)).toThrow(/not a picture I can read \(it is video\/mp4\)/);
    expect(() => checkAttachmentMeta({ ...a, contentType: null }, DEFAULT_ATTACHMENT_POLICY)).toThrow(AttachmentError);
    expect(() => checkAttachmentMeta({ ...a, size: 9 * 1024 * 1024 }, DEFAULT_ATTACHMENT_POLICY)).toThrow(/9\.0 MiB; the limit is 8\.0 MiB/);
  });
});

describe('downloadImage', () => {
  let server: http.Server;
  let base = '';
  let dir = '';
  let png: Buffer;
  const served: Record<string, { body: Buffer; headers?: Record<string, string> }> = {};
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-dl-'));
    png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#456' } }).png().toBuffer();
    served['/ok.png'] = { body: png };
    served['/wide.png'] = { body: await sharp({ create: { width: 5000, height: 8, channels: 3, background: '#000' } }).png().toBuffer() };
    served['/broken.png'] = { body: Buffer.concat([png.subarray(0, 40), Buffer.alloc(100)]) };
    served['/liar.png'] = { body: png, headers: { 'content-length': String(50 * 1024 * 1024) } };
    server = http.createServer((req, res) => {
      if (req.url === '/redirect.png') return void res.writeHead(302, { location: 'https://evil.com/x.png' }).end();
      const f = served[req.url ?? ''];
      if (!f) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'image/png', ...(f.headers ?? { 'content-length': String(f.body.length) }) });
      if (f.headers?.['content-length']) res.flushHeaders();
      else res.end(f.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const policy = () => ({ ...DEFAULT_ATTACHMENT_POLICY, allowedHosts: [new URL(base).host] });
  const info = (p: string) => ({ label: 'init_image', name: p.slice(1), url: base + p, size: 100, contentType: 'image/png' });

  it('saves a good image with its kind and size', async () => {
    const r = await downloadImage(info('/ok.png'), policy(), dir);
    expect(r).toMatchObject({ kind: 'png', width: 40, height: 30, bytes: png.length });
    expect(fs.readFileSync(r.path)).toEqual(png);
  });

  it('refuses a declared Content-Length over the limit, redirects, undecodable and oversized images', async () => {
    await expect(downloadImage(info('/liar.png'), policy(), dir)).rejects.toThrow(/50\.0 MiB; the limit is 8\.0 MiB/);
    await expect(downloadImage(info('/redirect.png'), policy(), dir)).rejects.toThrow(/couldn't download/);
    await expect(downloadImage(info('/broken.png'), policy(), dir)).rejects.toThrow(/couldn't read all of it: the file seems damaged or cut short/);
    await expect(downloadImage(info('/wide.png'), policy(), dir)).rejects.toThrow(/5000×8; the largest I take is 4096×4096/);
    await expect(downloadImage(info('/missing.png'), policy(), dir)).rejects.toThrow(/Discord answered 404/);
  });
});
