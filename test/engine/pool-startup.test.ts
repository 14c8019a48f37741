import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import type { JobRecord } from '../../src/jobs/types.ts';
import { fixture } from '../helpers/fixtures.ts';

const job = { id: 'j-early', request: { prompt: 'a red apple', steps: 3, width: 64, height: 64, seed: 1, cutn: 2 } } as JobRecord;

describe('EngineRunner start-up', () => {
  const runners: EngineRunner[] = [];
  afterAll(async () => {
    for (const r of runners) await r.close();
  });

  it('a job cancelled while the worker is still loading never starts', async () => {
    const r = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1 });
    runners.push(r);
    const ac = new AbortController();
    let progress = 0;
    const run = r.run(job, { signal: ac.signal, onProgress: () => progress++, onSnapshot() {}, onCheckpoint() {} });
    ac.abort({ kind: 'cancelled' });
    await expect(run).rejects.toThrow(/cancelled before it started/);
    expect(progress).toBe(0);
  });

  it('models that cannot load reject whenReady() with the reason', async () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-badmodel-'));
    fs.writeFileSync(path.join(bad, 'last.ckpt'), 'not a checkpoint');
    const r = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: bad, device: 'cpu', threads: 1 });
    runners.push(r);
    await expect(r.whenReady()).rejects.toThrow(/could not load the models/);
    fs.rmSync(bad, { recursive: true, force: true });
  });
});
