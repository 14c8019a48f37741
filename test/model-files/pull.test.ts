import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clipTensors, vqganTensors } from '../../src/engine/models/expected.ts';
import { checkModels, defaultModelSpecs, type ModelSpec, type SourceBases } from '../../src/model-files/layout.ts';
import { readManifest } from '../../src/model-files/manifest.ts';
import { pullModels, type PullOptions } from '../../src/model-files/pull.ts';
import { fixturesDir } from '../helpers/fixtures.ts';
import { buildSafetensors, closedPort, safetensorsListTensors, sink, startFileServer, tmpDir, type FileServer, type TensorDef } from './helpers.ts';

// Small stand-ins with the real key names (the real files are 605 MB and 980 MB).
const CLIP_SMALL: TensorDef[] = [
  { name: 'visual.conv1.weight', shape: [8, 3, 4, 4] },
  { name: 'visual.positional_embedding', shape: [5, 8] },
  { name: 'token_embedding.weight', shape: [16, 8] },
  { name: 'text_projection', shape: [8, 8] },
];
const VQ_SMALL: TensorDef[] = [
  { name: 'quantize.embedding.weight', shape: [32, 4] },
  { name: 'decoder.conv_in.weight', shape: [8, 4, 3, 3] },
  { name: 'post_quant_conv.weight', shape: [4, 4, 1, 1] },
];

const HF = '/timm/vit_base_patch32_clip_224.openai/resolve/main';
const HEIBOX = '/d/a7530b09fed84f80a887/files/';

/** The default layout and URLs, with tensor expectations swapped for small ones. */
function smallSpecs(bases: SourceBases, clip = CLIP_SMALL, vq = VQ_SMALL): ModelSpec[] {
  return defaultModelSpecs(bases).map((m) => ({
    ...m,
    files: m.files.map((f) => (f.check.kind === 'tensors' ? { ...f, check: { kind: 'tensors' as const, expected: m.folder.startsWith('clip') ? clip : vq } } : f)),
  }));
}

const files = {
  clip: buildSafetensors(CLIP_SMALL),
  vocab: Buffer.from(JSON.stringify({ '<|startoftext|>': 49406, '<|endoftext|>': 49407, a: 0 })),
  merges: Buffer.from(`#version: 0.2\n${'i n\n'.repeat(30_000)}`),
  config: Buffer.from(JSON.stringify({ model_cfg: { embed_dim: 512 }, preprocess_cfg: {} })),
  ckpt: buildSafetensors(VQ_SMALL),
  yaml: Buffer.from('model:\n  params:\n    n_embed: 16384\n    ddconfig:\n      ch: 128\n'),
};

function serveAll(server: FileServer, over: Partial<Record<keyof typeof files, Buffer>> = {}) {
  const f = { ...files, ...over };
  server.routes.set(`${HF}/open_clip_model.safetensors`, { body: f.clip });
  server.routes.set(`${HF}/vocab.json`, { body: f.vocab });
  server.routes.set(`${HF}/merges.txt`, { body: f.merges });
  server.routes.set(`${HF}/open_clip_config.json`, { body: f.config });
  // heibox answers with a redirect to its download host, like the real one
  server.routes.set(`${HEIBOX}?p=%2Fckpts%2Flast.ckpt&dl=1`, { redirect: '/seafhttp/files/abc/last.ckpt' });
  server.routes.set('/seafhttp/files/abc/last.ckpt', { body: f.ckpt });
  server.routes.set(`${HEIBOX}?p=%2Fconfigs%2Fmodel.yaml&dl=1`, { body: f.yaml });
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('pullModels', () => {
  let server: FileServer;
  let dir: string;
  let opts: PullOptions;
  beforeEach(async () => {
    server = await startFileServer();
    dir = tmpDir();
    const bases = { hf: server.base, heibox: server.base };
    opts = { modelsDir: dir, specs: smallSpecs(bases), listTensors: safetensorsListTensors, stream: sink(), connectTimeoutMs: 3_000 };
  });
  afterEach(async () => {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('downloads every file into the layout, checks it and writes the manifest; a second run fetches nothing', async () => {
    serveAll(server);
    const r = await pullModels(opts);
    expect(r.report).toMatch(/All 6 model files are in place/);
    expect(r.ok).toBe(true);
    expect(r.files.map((f) => f.status)).toEqual(Array(6).fill('downloaded'));
    expect(checkModels(dir)).toEqual([]);
    expect(fs.readFileSync(path.join(dir, 'vqgan-imagenet-f16-16384/last.ckpt')).equals(files.ckpt)).toBe(true);
    const m = readManifest(dir);
    expect(Object.keys(m.files)).toHaveLength(6);
    expect(m.files['clip-vit-b-32/open_clip_model.safetensors']).toMatchObject({
      url: `${server.base}${HF}/open_clip_model.safetensors`,
      size: files.clip.length,
      sha256: sha(files.clip),
      source: 'download',
    });
    expect(m.files['vqgan-imagenet-f16-16384/last.ckpt']!.url).toBe(`${server.base}${HEIBOX}?p=%2Fckpts%2Flast.ckpt&dl=1`);
    expect(Date.parse(m.files['vqgan-imagenet-f16-16384/model.yaml']!.date)).not.toBeNaN();
    expect(fs.readdirSync(path.join(dir, 'clip-vit-b-32')).filter((n) => n.endsWith('.part'))).toEqual([]);

    const before = server.requests.length;
    const again = await pullModels(opts);
    expect(again.ok).toBe(true);
    expect(again.files.map((f) => f.status)).toEqual(Array(6).fill('present'));
    expect(server.requests.length).toBe(before);
  });

  it('resumes an interrupted transfer on the next run, fetching only the remainder', async () => {
    serveAll(server);
    const half = Math.floor(files.clip.length / 2);
    server.routes.set(`${HF}/open_clip_model.safetensors`, { body: files.clip, cutAfter: half });
    const first = await pullModels({ ...opts, retries: 0 });
    expect(first.ok).toBe(false);
    const clip = first.files.find((f) => f.file.name === 'open_clip_model.safetensors')!;
    expect(clip.status).toBe('failed');
    expect(clip.partial).toBe(true);
    expect(first.report).toContain('run `npm run models:pull` again to resume');
    expect(fs.existsSync(path.join(dir, 'clip-vit-b-32/open_clip_model.safetensors'))).toBe(false);
    expect(fs.statSync(path.join(dir, 'clip-vit-b-32/open_clip_model.safetensors.part')).size).toBe(half);
    expect(checkModels(dir)[0]!.message).toContain('partial download');

    const second = await pullModels({ ...opts, retries: 0 });
    expect(second.ok).toBe(true);
    const reqs = server.requests.filter((q) => q.path.endsWith('open_clip_model.safetensors'));
    expect(reqs).toHaveLength(2);
    expect(reqs[1]!.range).toBe(`bytes=${half}-`);
    expect(reqs[1]!.bytesSent).toBe(files.clip.length - half);
    expect(readManifest(dir).files['clip-vit-b-32/open_clip_model.safetensors']!.sha256).toBe(sha(files.clip));
  });

  it('resumes within one run when retries are allowed', async () => {
    serveAll(server);
    server.routes.set(`${HF}/open_clip_model.safetensors`, { body: files.clip, cutAfter: 100 });
    const r = await pullModels(opts);
    expect(r.ok).toBe(true);
    const reqs = server.requests.filter((q) => q.path.endsWith('open_clip_model.safetensors'));
    expect(reqs.map((q) => q.range)).toEqual([undefined, 'bytes=100-']);
  });

  it('catches a truncated file that arrived "complete", and moves it aside', async () => {
    serveAll(server, { ckpt: files.ckpt.subarray(0, files.ckpt.length - 64) });
    const r = await pullModels(opts);
    expect(r.ok).toBe(false);
    const ck = r.files.find((f) => f.file.name === 'last.ckpt')!;
    expect(ck.status).toBe('rejected');
    expect(ck.message).toMatch(/^truncated/);
    const dest = path.join(dir, 'vqgan-imagenet-f16-16384/last.ckpt');
    expect(fs.existsSync(dest)).toBe(false);
    expect(fs.existsSync(`${dest}.rejected`)).toBe(true);
    expect(r.report).toContain('last.ckpt: truncated');
    expect(r.report).toContain(`-> ${dest}`);
    expect(readManifest(dir).files['vqgan-imagenet-f16-16384/last.ckpt']).toBeUndefined();
    expect(checkModels(dir).map((p) => p.path)).toEqual([dest]);
  });

  it('rejects a wrong file (other tensor names)', async () => {
    serveAll(server, { clip: buildSafetensors([{ name: 'model.layers.0.weight', shape: [8, 8] }]) });
    const r = await pullModels(opts);
    const f = r.files.find((x) => x.file.name === 'open_clip_model.safetensors')!;
    expect(f.status).toBe('rejected');
    expect(f.message).toMatch(/wrong file/);
    expect(fs.existsSync(path.join(dir, 'clip-vit-b-32/open_clip_model.safetensors'))).toBe(false);
  });

  it('rejects the right names with the wrong shapes', async () => {
    serveAll(server, { clip: buildSafetensors(CLIP_SMALL.map((t) => ({ ...t, shape: t.shape.map((d) => d + 1) }))) });
    const r = await pullModels(opts);
    expect(r.files.find((x) => x.file.name === 'open_clip_model.safetensors')!.message).toContain('visual.conv1.weight has shape [9, 4, 5, 5], expected [8, 3, 4, 4]');
  });

  it('reports a 404 with the URL and the path to put the file at by hand', async () => {
    serveAll(server);
    server.routes.delete(`${HEIBOX}?p=%2Fconfigs%2Fmodel.yaml&dl=1`);
    const r = await pullModels(opts);
    expect(r.ok).toBe(false);
    expect(r.files.filter((f) => f.status !== 'downloaded').map((f) => f.file.name)).toEqual(['model.yaml']);
    expect(r.report).toContain('not found (404)');
    expect(r.report).toContain(`${server.base}${HEIBOX}?p=%2Fconfigs%2Fmodel.yaml&dl=1`);
    expect(r.report).toContain(`-> ${path.join(dir, 'vqgan-imagenet-f16-16384/model.yaml')}`);
    expect(r.report).not.toContain('vocab.json');
  });

  it('offline: fails fast, listing every URL and the exact path for each file', async () => {
    const port = await closedPort();
    const bases = { hf: `http://127.0.0.1:${port}`, heibox: 'http://reverie-offline-test.invalid' };
    const t0 = Date.now();
    const r = await pullModels({ ...opts, specs: smallSpecs(bases) });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.ok).toBe(false);
    expect(r.files.every((f) => f.status === 'offline')).toBe(true);
    expect(r.report).toMatch(/^models:pull cannot download: connection to 127\.0\.0\.1:\d+ refused; cannot resolve reverie-offline-test\.invalid/);
    for (const m of smallSpecs(bases)) for (const f of m.files) {
      expect(r.report).toContain(f.url);
      expect(r.report).toContain(`-> ${path.join(dir, m.folder, f.name)}`);
    }
  });

  it('takes files put there by hand (source "manual") and asks for nothing', async () => {
    const put = (rel: string, b: Buffer) => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), b);
    };
    put('clip-vit-b-32/open_clip_model.safetensors', files.clip);
    put('clip-vit-b-32/vocab.json', files.vocab);
    put('clip-vit-b-32/merges.txt', files.merges);
    put('clip-vit-b-32/open_clip_config.json', files.config);
    put('vqgan-imagenet-f16-16384/last.ckpt', files.ckpt);
    put('vqgan-imagenet-f16-16384/model.yaml', files.yaml);
    const r = await pullModels({ ...opts, checkOnly: true });
    expect(r.ok).toBe(true);
    expect(server.requests).toHaveLength(0);
    expect(readManifest(dir).files['vqgan-imagenet-f16-16384/last.ckpt']).toMatchObject({ source: 'manual', sha256: sha(files.ckpt) });
  });

  it('moves a bad file found in place aside and downloads a good one', async () => {
    serveAll(server);
    fs.mkdirSync(path.join(dir, 'clip-vit-b-32'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'clip-vit-b-32/vocab.json'), '{"truncated": ');
    const r = await pullModels(opts);
    expect(r.ok).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'clip-vit-b-32/vocab.json.rejected'), 'utf8')).toBe('{"truncated": ');
    expect(fs.readFileSync(path.join(dir, 'clip-vit-b-32/vocab.json')).equals(files.vocab)).toBe(true);
  });

  it('--check on an empty folder lists what is missing without downloading', async () => {
    serveAll(server);
    const r = await pullModels({ ...opts, checkOnly: true });
    expect(r.ok).toBe(false);
    expect(r.files.every((f) => f.status === 'missing')).toBe(true);
    expect(server.requests).toHaveLength(0);
    expect(r.report).toContain('check only');
  });
});

// The real file formats, through the engine's reader (src/engine/weights), as models:pull runs by default.
const haveFixtures = fs.existsSync(path.join(fixturesDir, 'vqgan/model.ckpt'));

describe.skipIf(!haveFixtures)('pullModels with the parity-tiny checkpoints and the engine reader', () => {
  it('accepts the real safetensors and Lightning .ckpt formats, and rejects a truncated .ckpt', async () => {
    const fx = (p: string) => fs.readFileSync(path.join(fixturesDir, p));
    const server = await startFileServer();
    const dir = tmpDir();
    try {
      const tinyClip = clipTensors({ embedDim: 32, imageSize: 64, patch: 16, visionWidth: 128, visionLayers: 2, contextLength: 77, vocabSize: 49408, textWidth: 64, textLayers: 2 });
      const tinyVq = vqganTensors({ ch: 32, chMult: [1, 2, 2], numResBlocks: 1, attnResolutions: [16], resolution: 64, zChannels: 16, embedDim: 16, nEmbed: 128, inChannels: 3, outCh: 3 });
      const specs = smallSpecs({ hf: server.base, heibox: server.base }, tinyClip, tinyVq);
      serveAll(server, {
        clip: fx('clip-openai/open_clip_model.safetensors'),
        vocab: fx('clip-openai/vocab.json'),
        merges: fx('clip-openai/merges.txt'),
        config: fx('clip-openai/open_clip_config.json'),
        ckpt: fx('vqgan/model.ckpt'),
        yaml: fx('vqgan/model.yaml'),
      });
      const r = await pullModels({ modelsDir: dir, specs, stream: sink() });
      expect(r.report).toMatch(/All 6 model files/);

      fs.rmSync(path.join(dir, 'vqgan-imagenet-f16-16384/last.ckpt'));
      const ckpt = fx('vqgan/model.ckpt');
      server.routes.set('/seafhttp/files/abc/last.ckpt', { body: ckpt.subarray(0, ckpt.length - 100) });
      const bad = await pullModels({ modelsDir: dir, specs, stream: sink() });
      expect(bad.files.find((f) => f.file.name === 'last.ckpt')!.status).toBe('rejected');
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
