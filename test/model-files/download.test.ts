import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { download, DownloadError } from '../../src/model-files/download.ts';
import { closedPort, startFileServer, tmpDir, type FileServer } from './helpers.ts';

const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 13) & 0xff));

describe('download', () => {
  let server: FileServer;
  let dir: string;
  beforeEach(async () => {
    server = await startFileServer();
    dir = tmpDir();
  });
  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('downloads a file to .part and renames it when complete', async () => {
    server.routes.set('/f.bin', { body });
    const dest = path.join(dir, 'f.bin');
    const seen: number[] = [];
    const r = await download({ url: `${server.base}/f.bin`, dest, onProgress: (p) => seen.push(p.received) });
    expect(r).toMatchObject({ bytes: body.length, resumedFrom: 0, transferred: body.length });
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
    expect(fs.existsSync(`${dest}.part`)).toBe(false);
    expect(seen.at(-1)).toBe(body.length);
    expect(server.requests[0]!.range).toBeUndefined();
  });

  it('keeps the .part when the connection is cut, then resumes with Range and fetches only the rest', async () => {
    server.routes.set('/f.bin', { body, cutAfter: 70_000 });
    const dest = path.join(dir, 'f.bin');
    const err = await download({ url: `${server.base}/f.bin`, dest }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).kind).toBe('incomplete');
    expect(fs.existsSync(dest)).toBe(false);
    const partSize = fs.statSync(`${dest}.part`).size;
    expect(partSize).toBe(70_000); // every byte received is kept
    expect(fs.readFileSync(`${dest}.part`).equals(body.subarray(0, partSize))).toBe(true);

    const r = await download({ url: `${server.base}/f.bin`, dest });
    expect(r.resumedFrom).toBe(partSize);
    expect(r.transferred).toBe(body.length - partSize);
    const second = server.requests[1]!;
    expect(second.range).toBe(`bytes=${partSize}-`);
    expect(second.status).toBe(206);
    expect(second.bytesSent).toBe(body.length - partSize);
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
  });

  it('starts over when the server ignores Range (200 instead of 206)', async () => {
    server.routes.set('/f.bin', { body, ignoreRange: true });
    const dest = path.join(dir, 'f.bin');
    fs.writeFileSync(`${dest}.part`, Buffer.from('garbage that must not stay at the front'));
    const r = await download({ url: `${server.base}/f.bin`, dest });
    expect(r.resumedFrom).toBe(0);
    expect(server.requests[0]!.range).toMatch(/^bytes=\d+-$/);
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
  });

  it('treats 416 with a part of the full size as complete, and a mismatching part as a restart', async () => {
    server.routes.set('/f.bin', { body });
    const dest = path.join(dir, 'f.bin');
    fs.writeFileSync(`${dest}.part`, body);
    const r = await download({ url: `${server.base}/f.bin`, dest });
    expect(r).toMatchObject({ bytes: body.length, transferred: 0 });
    expect(server.requests[0]!.status).toBe(416);

    const dest2 = path.join(dir, 'g.bin');
    server.routes.set('/g.bin', { body: body.subarray(0, 1000) });
    fs.writeFileSync(`${dest2}.part`, body.subarray(0, 5000)); // longer than the file: stale
    const r2 = await download({ url: `${server.base}/g.bin`, dest: dest2 });
    expect(r2.bytes).toBe(1000);
    expect(fs.readFileSync(dest2).equals(body.subarray(0, 1000))).toBe(true);
  });

  it('follows absolute and relative redirects', async () => {
    server.routes.set('/f.bin', { body });
    server.routes.set('/d/share/files/?p=%2Ff.bin&dl=1', { redirect: '/seafhttp/f.bin' });
    server.routes.set('/seafhttp/f.bin', { redirect: `${server.base}/f.bin` });
    const dest = path.join(dir, 'f.bin');
    const r = await download({ url: `${server.base}/d/share/files/?p=%2Ff.bin&dl=1`, dest });
    expect(r.finalUrl).toBe(`${server.base}/f.bin`);
    expect(fs.readFileSync(dest).equals(body)).toBe(true);
  });

  it('reports 404 as an http error and leaves nothing behind', async () => {
    const dest = path.join(dir, 'nope.bin');
    const err = (await download({ url: `${server.base}/nope.bin`, dest }).catch((e: unknown) => e)) as DownloadError;
    expect(err.kind).toBe('http');
    expect(err.status).toBe(404);
    expect(err.message).toContain('not found (404)');
    expect(fs.existsSync(dest) || fs.existsSync(`${dest}.part`)).toBe(false);
  });

  it('rejects a size that differs from the expected one', async () => {
    server.routes.set('/f.bin', { body });
    const err = (await download({ url: `${server.base}/f.bin`, dest: path.join(dir, 'f.bin'), expectedBytes: 1234 }).catch((e: unknown) => e)) as DownloadError;
    expect(err.kind).toBe('size');
    expect(fs.existsSync(path.join(dir, 'f.bin'))).toBe(false);
  });

  it('fails fast when the connection is refused, and when no answer comes', async () => {
    const port = await closedPort();
    const t0 = Date.now();
    const e1 = (await download({ url: `http://127.0.0.1:${port}/f.bin`, dest: path.join(dir, 'a') }).catch((e: unknown) => e)) as DownloadError;
    expect(e1.kind).toBe('network');
    expect(e1.message).toContain('refused');
    server.routes.set('/hang', { hang: true });
    const e2 = (await download({ url: `${server.base}/hang`, dest: path.join(dir, 'b'), connectTimeoutMs: 300 }).catch((e: unknown) => e)) as DownloadError;
    expect(e2.kind).toBe('network');
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it('detects a chunked transfer that is cut short', async () => {
    server.routes.set('/c.bin', { body, chunked: true, cutAfter: 50_000 });
    const dest = path.join(dir, 'c.bin');
    const err = (await download({ url: `${server.base}/c.bin`, dest }).catch((e: unknown) => e)) as DownloadError;
    expect(err.kind).toBe('incomplete');
    expect(fs.existsSync(dest)).toBe(false);
  });
});
