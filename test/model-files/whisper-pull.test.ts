/**
 * `models:pull --whisper`: the checkpoint whose URL names its sha256 and the pinned rank file, served by
 * a local HTTP server; a file that does not match its sha256 is moved aside and not recorded.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model-files/manifest.ts';
import { pullModels } from '../../src/model-files/pull.ts';
import { RANK_FILE, WHISPER_CHECKPOINTS, sha256FromUrl, whisperModelSpec, whisperUrl } from '../../src/model-files/whisper.ts';
import { sink, startFileServer, tmpDir, type FileServer } from './helpers.ts';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('models:pull --whisper', () => {
  let server: FileServer;
  let dir: string;
  const pt = Buffer.concat([Buffer.from('PK\x03\x04'), crypto.randomBytes(4096)]); // stands in for base.pt
  const rank = Buffer.from('IQ== 0\n'.repeat(120_000));
  beforeEach(async () => {
    server = await startFileServer();
    dir = tmpDir();
  });
  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('uses the official URLs, with the sha256 in the checkpoint\'s path', () => {
    const spec = whisperModelSpec();
    expect(spec.folder).toBe('whisper');
    expect(spec.files.map((f) => f.name)).toEqual(['base.pt', 'multilingual.tiktoken']);
    expect(spec.files[0]!.url).toBe(`https://openaipublic.azureedge.net/main/whisper/models/${WHISPER_CHECKPOINTS.base.sha256}/base.pt`);
    expect(spec.files[0]!.sha256).toBe(WHISPER_CHECKPOINTS.base.sha256);
    expect(spec.files[1]!.url).toBe(`https://raw.githubusercontent.com${RANK_FILE.path}`);
    expect(whisperModelSpec('small').files[0]!.url).toMatch(/\/9ecf7799[0-9a-f]{56}\/small\.pt$/);
    expect(sha256FromUrl('https://x/y/models/ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789/a.pt')).toBe('abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789');
    expect(sha256FromUrl('https://x/y/a.pt')).toBeUndefined();
  });

  it('downloads both files, verifies their sha256 and records them; a second run fetches nothing', async () => {
    const url = whisperUrl(server.base, 'base', sha(pt));
    server.routes.set(new URL(url).pathname, { body: pt });
    server.routes.set(RANK_FILE.path, { body: rank });
    const spec = whisperModelSpec('base', { openai: server.base, github: server.base }, { checkpointUrl: url });
    spec.files[1] = { ...spec.files[1]!, sha256: sha(rank) };
    const opts = { modelsDir: dir, specs: [spec], stream: sink(), connectTimeoutMs: 3000 };
    const r = await pullModels(opts);
    expect(r.report).toMatch(/All 2 model files are in place/);
    expect(fs.readFileSync(path.join(dir, 'whisper/base.pt')).equals(pt)).toBe(true);
    expect(readManifest(dir).files['whisper/base.pt']).toMatchObject({ sha256: sha(pt), url, source: 'download' });
    const before = server.requests.length;
    const again = await pullModels(opts);
    expect(again.files.map((f) => f.status)).toEqual(['present', 'present']);
    expect(server.requests.length).toBe(before);
  });

  it('rejects a checkpoint whose bytes are not the sha256 its URL names, and a wrong rank file', async () => {
    const url = whisperUrl(server.base, 'base', WHISPER_CHECKPOINTS.base.sha256);
    server.routes.set(new URL(url).pathname, { body: pt });
    server.routes.set(RANK_FILE.path, { body: rank });
    const r = await pullModels({ modelsDir: dir, specs: [whisperModelSpec('base', { openai: server.base, github: server.base })], stream: sink(), connectTimeoutMs: 3000 });
    expect(r.ok).toBe(false);
    expect(r.files.map((f) => f.status)).toEqual(['rejected', 'rejected']);
    expect(r.files[0]!.message).toMatch(new RegExp(`sha256 ${sha(pt).slice(0, 16)}… is not the published ed3a0b6b1c0edf87…; moved aside`));
    expect(fs.existsSync(path.join(dir, 'whisper/base.pt'))).toBe(false);
    expect(fs.existsSync(r.files[0]!.rejectedTo!)).toBe(true);
    expect(readManifest(dir).files['whisper/base.pt']).toBeUndefined();
    expect(r.report).toContain(`${url}\n    -> ${path.join(dir, 'whisper/base.pt')}`);
  });
});
