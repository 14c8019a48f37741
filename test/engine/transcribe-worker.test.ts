/**
 * Transcription in the engine worker: an EngineRunner whose painting models cannot load still
 * transcribes (Whisper loads on its own, on the first clip), with the same text as Whisper in-process,
 * and says clearly when the checkpoint is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import { readNpy } from '../../src/engine/npy.ts';
import { Whisper } from '../../src/engine/whisper/index.ts';
import { fixture, whisperFixture, whisperRankFile } from '../helpers/fixtures.ts';

const rankFile = whisperRankFile();

describe.skipIf(!rankFile)('EngineRunner.transcribe', () => {
  const runners: EngineRunner[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-nomodel-'));
  afterAll(async () => {
    for (const r of runners) await r.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('transcribes in the worker exactly as Whisper does in-process', async () => {
    const pcm = readNpy(whisperFixture('cases', 'pcm16k.npy')).data as Float32Array;
    const checkpoint = whisperFixture('whisper', 'micro.pt');
    const runner = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: dir, device: 'cpu', threads: 1, whisper: { checkpoint, rankFile: rankFile! } });
    runners.push(runner);
    const w = await Whisper.load(checkpoint, { rankFile: rankFile!, threads: 1 });
    const direct = await w.transcribe(pcm, { language: 'en' });
    await w.release();
    const r = await runner.transcribe({ pcm, language: 'en' });
    expect(r.device).toBe('cpu');
    expect(r.language).toBe('en');
    expect(r.audioSeconds).toBeCloseTo(pcm.length / 16000, 5);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.noSpeechProb).toBeGreaterThanOrEqual(0);
    // random weights: the words mean nothing, but they are the same words
    expect(r.text).toBe(direct.text);
    expect(r.noSpeechProb).toBe(direct.segments.length ? Math.min(...direct.segments.map((s) => s.noSpeechProb)) : 1);
  }, 120_000);

  it('answers with the reason when there is no checkpoint', async () => {
    const runner = new EngineRunner({ clipDir: dir, vqganDir: dir, device: 'cpu', threads: 1, whisper: { checkpoint: path.join(dir, 'base.pt') } });
    runners.push(runner);
    await expect(runner.transcribe({ pcm: new Float32Array(16000) })).rejects.toThrow(/base\.pt is missing \(npm run models:pull -- --whisper base\)/);
  }, 60_000);
});
