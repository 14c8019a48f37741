import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { JobStore } from '../../src/jobs/store.ts';
import { FakeDiscord } from '../fake-discord/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { startHarness } from './helpers/harness.ts';

describe('startBot with an engine that cannot load its models', () => {
  const dirs: string[] = [];
  let fake: FakeDiscord | undefined;
  let runner: EngineRunner | undefined;
  afterAll(async () => {
    await runner?.close();
    await fake?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('fails to start with the reason instead of failing every queued job', async () => {
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-badmodel-'));
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-badstart-'));
    dirs.push(bad, dataDir);
    fs.writeFileSync(path.join(bad, 'last.ckpt'), 'not a checkpoint');
    // a job left queued by an earlier run must survive the failed start
    const store = new JobStore({ dataDir });
    const queued = store.insertJob({ userId: 'u1', guildId: 'g1', discord: { guildId: 'g1', channelId: 'c1' }, request: { prompt: 'kept', steps: 5, width: 64, height: 64, seed: 1 } });
    store.close();
    fake = await FakeDiscord.start();
    runner = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: bad, device: 'cpu', threads: 1 });
    await expect(startHarness({ fake, dataDir, runners: [runner] })).rejects.toThrow(/engine on cpu could not start: could not load the models/);
    const after = new JobStore({ dataDir });
    expect(after.getJob(queued.id)!.state).toBe('queued');
    after.close();
  });
});
