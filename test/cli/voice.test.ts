/**
 * `imagine transcribe FILE` and `imagine --voice FILE`: a WAV of the whisper-micro fixture's speech
 * (random weights: the words are nonsense, but they are Whisper's, through the same path the bot uses),
 * real espeak-ng speech as Ogg/Opus, and the clear failures: not audio, too long, no checkpoint.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runImagine } from '../../src/cli/imagine.ts';
import { takeVoiceArgs } from '../../src/cli/voice.ts';
import { encodeWav } from '../../src/engine/audio/index.ts';
import { readPngText } from '../../src/engine/generate/images.ts';
import { readNpy } from '../../src/engine/npy.ts';
import { promptFromSpeech } from '../../src/jobs/voice-prompt.ts';
import { fixture, whisperFixture, whisperRankFile } from '../helpers/fixtures.ts';

const rankFile = whisperRankFile();
let tmp: string;
let wav: string;
let micro: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-voice-cli-'));
  wav = path.join(tmp, 'jfk.wav');
  fs.writeFileSync(wav, encodeWav(readNpy(whisperFixture('cases', 'pcm16k.npy')).data as Float32Array, 16000, 'float32'));
  // the checkpoint with its rank file beside it, as models:pull lays them out
  micro = path.join(tmp, 'micro.pt');
  fs.copyFileSync(whisperFixture('whisper', 'micro.pt'), micro);
  if (rankFile) fs.copyFileSync(rankFile, path.join(tmp, 'multilingual.tiktoken'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function imagine(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runImagine(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env, cwd: tmp });
  return { code, stdout, stderr };
}

describe('takeVoiceArgs', () => {
  it('takes --voice and --whisper out, in both spellings, and leaves the rest', () => {
    expect(takeVoiceArgs(['a fox', '--voice', 'c.ogg', '--whisper=w.pt', '-i', '5'])).toEqual({ voice: 'c.ogg', whisper: 'w.pt', rest: ['a fox', '-i', '5'] });
    expect(() => takeVoiceArgs(['--voice'])).toThrow(/--voice expects a file/);
  });
});

describe.skipIf(!rankFile)('imagine transcribe / --voice', () => {
  let said: { text: string; prompt: string | null; language: string; noSpeechProb: number; audioSeconds: number; seconds: number };

  it('transcribe --json prints the text, the prompt painted from it and the timings', async () => {
    const r = await imagine(['transcribe', wav, '--whisper', micro, '--language', 'en', '--threads', '1', '--json']);
    expect(r.stderr).toBe('');
    said = JSON.parse(r.stdout);
    expect(said.language).toBe('en');
    expect(said.audioSeconds).toBeCloseTo(11, 0);
    expect(said.seconds).toBeGreaterThan(0);
    expect(said.text.length).toBeGreaterThan(0);
    if (said.prompt !== null) expect(said.prompt).toBe(promptFromSpeech(said.text));
    const plain = await imagine(['transcribe', wav, '--whisper', micro, '--language', 'en', '--threads', '1']);
    if (said.noSpeechProb <= 0.6) expect(plain.stdout).toBe(`${said.text}\n`);
  }, 120_000);

  it('--voice paints the spoken words after a typed prompt', async () => {
    const out = path.join(tmp, 'voice.png');
    const r = await imagine(['-p', 'watercolour', '--voice', wav, '--whisper', micro, '-i', '2', '-s', '32', '32', '-cuts', '2', '-cutm', 'original', '--threads', '1', '--clip', fixture('clip-openai'), '--vqgan', fixture('vqgan'), '-o', out]);
    if (r.code !== 0) {
      // random weights may sound like silence to Whisper (language detected here): then the clear refusal
      expect(r.stderr).toMatch(/couldn't hear any words|nothing to paint/);
      return;
    }
    expect(r.stderr).toMatch(/^🎙️ heard: “.+”$/m);
    const meta = await readPngText(fs.readFileSync(out));
    expect(JSON.stringify(meta)).toContain('watercolour');
  }, 180_000);

  it('refuses what is not audio, a clip over the limit, and a missing checkpoint, each in one line', async () => {
    fs.writeFileSync(path.join(tmp, 'notes.txt'), 'not a sound');
    const a = await imagine(['transcribe', 'notes.txt', '--whisper', micro]);
    expect(a).toMatchObject({ code: 1, stderr: 'imagine: notes.txt: the file is not audio (Ogg/Opus or WAV expected)\n' });
    const b = await imagine(['transcribe', wav, '--whisper', micro, '--max-seconds', '5']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/the clip is 11\.0 s long; the limit is 5 s/);
    const c = await imagine(['--voice', wav, 'a fox', '--clip', fixture('clip-openai'), '--vqgan', fixture('vqgan')], { MODELS_DIR: tmp });
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/whisper\/base\.pt is missing: run npm run models:pull -- --whisper base/);
  });
});
