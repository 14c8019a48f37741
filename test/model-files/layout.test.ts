import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkModels, defaultModelSpecs, heiboxUrl, hfUrl, manualPlacementLines, modelPaths } from '../../src/model-files/layout.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { tmpDir } from './helpers.ts';

const DEFAULT_FILES = [
  'clip-vit-b-32/open_clip_model.safetensors',
  'clip-vit-b-32/vocab.json',
  'clip-vit-b-32/merges.txt',
  'vqgan-imagenet-f16-16384/last.ckpt',
  'vqgan-imagenet-f16-16384/model.yaml',
];

describe('model layout', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('reverie-layout-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const touch = (rel: string, content = 'x') => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  };

  it('builds the documented source URLs, with overridable bases', () => {
    expect(hfUrl('https://huggingface.co', 'vocab.json')).toBe('https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/vocab.json');
    expect(heiboxUrl('https://heibox.uni-heidelberg.de/', '/ckpts/last.ckpt')).toBe('https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1');
    const specs = defaultModelSpecs({ hf: 'http://127.0.0.1:1', heibox: 'http://127.0.0.1:2' });
    expect(specs.flatMap((m) => m.files.map((f) => f.url)).every((u) => u.startsWith('http://127.0.0.1:'))).toBe(true);
  });

  it('checkModels names every missing file, and nothing once they are there', () => {
    const problems = checkModels(dir);
    expect(problems.map((p) => path.relative(dir, p.path))).toEqual(DEFAULT_FILES);
    expect(problems[0]!.message).toBe(`missing CLIP weights: ${path.join(dir, DEFAULT_FILES[0]!)}`);
    expect(problems.map((p) => p.variable)).toEqual(['CLIP_MODEL', 'CLIP_MODEL', 'CLIP_MODEL', 'VQGAN_MODEL', 'VQGAN_MODEL']);
    for (const f of DEFAULT_FILES) touch(f);
    expect(checkModels(dir)).toEqual([]);
    touch('vqgan-imagenet-f16-16384/model.yaml', '');
    expect(checkModels(dir).map((p) => p.message)).toEqual([`empty VQGAN config: ${path.join(dir, 'vqgan-imagenet-f16-16384/model.yaml')}`]);
  });

  it('a rejected file does not count as present', () => {
    for (const f of DEFAULT_FILES) touch(f);
    fs.renameSync(path.join(dir, DEFAULT_FILES[3]!), path.join(dir, `${DEFAULT_FILES[3]!}.rejected`));
    expect(checkModels(dir).map((p) => p.path)).toEqual([path.join(dir, DEFAULT_FILES[3]!)]);
  });

  it('finds other models in chosen folders (HF CLIPModel, another VQGAN checkpoint)', () => {
    touch('clip-hf/pytorch_model.bin');
    touch('clip-hf/config.json', '{}');
    touch('clip-hf/vocab.json');
    touch('clip-hf/merges.txt');
    touch('vq-1024/imagenet_f16_1024.ckpt');
    touch('vq-1024/model.yaml');
    const choice = { clip: 'clip-hf', vqgan: path.join(dir, 'vq-1024') };
    expect(checkModels(dir, choice)).toEqual([]);
    const p = modelPaths(dir, choice);
    expect(p.clip.weights).toBe(path.join(dir, 'clip-hf/pytorch_model.bin'));
    expect(p.clip.config).toBe(path.join(dir, 'clip-hf/config.json'));
    expect(p.vqgan.checkpoint).toBe(path.join(dir, 'vq-1024/imagenet_f16_1024.ckpt'));
    expect(modelPaths(dir).vqgan.checkpoint).toBe(path.join(dir, 'vqgan-imagenet-f16-16384/last.ckpt'));
  });

  it('manual placement lines give each URL and the exact path', () => {
    const lines = manualPlacementLines(defaultModelSpecs(), '/srv/models');
    expect(lines).toHaveLength(12);
    expect(lines[8]).toBe('  https://heibox.uni-heidelberg.de/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1');
    expect(lines[9]).toBe('    -> /srv/models/vqgan-imagenet-f16-16384/last.ckpt  (~980.0 MB)');
  });

  it('models/sources.json and models/README.md match the sources table', () => {
    const sources = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models/sources.json'), 'utf8')) as { files: { path: string; url: string; approxBytes?: number }[] };
    const readme = fs.readFileSync(path.join(repoRoot, 'models/README.md'), 'utf8');
    const want = defaultModelSpecs().flatMap((m) => m.files.map((f) => ({ path: `${m.folder}/${f.name}`, url: f.url, approxBytes: f.approxBytes })));
    expect(sources.files).toEqual(want);
    for (const f of want) expect(readme).toContain(`| \`${f.path}\` | ${f.url} |`);
  });
});
