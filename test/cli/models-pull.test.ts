import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelSpecs } from '../../src/model-files/layout.ts';
import { closedPort, runScript } from '../model-files/helpers.ts';

describe('npm run models:pull (src/cli/models-pull.ts)', () => {
  let cwd: string;
  beforeAll(() => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-pull-cli-'));
  });
  afterAll(() => fs.rmSync(cwd, { recursive: true, force: true }));

  it('offline: exits non-zero within seconds with every URL and where to put each file', async () => {
    const port = await closedPort();
    const bases = { hf: `http://127.0.0.1:${port}`, heibox: 'http://reverie-offline-test.invalid' };
    const r = await runScript('src/cli/models-pull.ts', cwd, { REVERIE_HF_BASE: bases.hf, REVERIE_HEIBOX_BASE: bases.heibox, MODELS_DIR: 'weights' });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(30_000);
    expect(r.stderr).toMatch(/models:pull cannot download: connection to 127\.0\.0\.1:\d+ refused; cannot resolve reverie-offline-test\.invalid/);
    for (const m of defaultModelSpecs(bases)) {
      for (const f of m.files) {
        expect(r.stderr).toContain(`  ${f.url}\n    -> ${path.join(cwd, 'weights', m.folder, f.name)}`);
      }
    }
    expect(r.stderr).toContain('then run `npm run models:pull` again');
    expect(r.stderr).not.toMatch(/^\s+at |node:internal/m);
    expect(fs.readdirSync(path.join(cwd, 'weights', 'clip-vit-b-32'))).toEqual([]);
  });

  it('--check on an empty folder lists what is missing and downloads nothing', async () => {
    const r = await runScript('src/cli/models-pull.ts', cwd, { MODELS_DIR: 'empty', REVERIE_HF_BASE: 'http://reverie-offline-test.invalid' }, ['--check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('6 model files are not ready (check only, nothing downloaded)');
    expect(r.stderr).toContain(`-> ${path.join(cwd, 'empty/vqgan-imagenet-f16-16384/last.ckpt')}`);
  });
});
