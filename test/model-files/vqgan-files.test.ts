import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findVqganFiles } from '../../src/engine/models/vqgan.ts';
import { modelPaths } from '../../src/model-files/layout.ts';

describe('VQGAN files: the start-up check and the engine agree', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-vqfiles-'));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a folder with other names (wikiart_16384.ckpt + .yaml, two checkpoints) resolves to the same files', () => {
    const dir = path.join(root, 'wikiart');
    fs.mkdirSync(dir);
    for (const f of ['wikiart_16384.yaml', 'wikiart_16384.ckpt', 'a-older.ckpt']) fs.writeFileSync(path.join(dir, f), 'x');
    const engine = findVqganFiles(dir);
    const layout = modelPaths(root, { vqgan: 'wikiart' }).vqgan;
    expect(layout.checkpoint).toBe(engine.ckpt);
    expect(layout.config).toBe(engine.yaml);
    expect(path.basename(engine.yaml!)).toBe('wikiart_16384.yaml');
  });

  it('last.ckpt and model.yaml win when present', () => {
    const dir = path.join(root, 'f16');
    fs.mkdirSync(dir);
    for (const f of ['a.ckpt', 'last.ckpt', 'b.yaml', 'model.yaml']) fs.writeFileSync(path.join(dir, f), 'x');
    expect(modelPaths(root, { vqgan: 'f16' }).vqgan).toMatchObject({ checkpoint: path.join(dir, 'last.ckpt'), config: path.join(dir, 'model.yaml') });
  });
});
