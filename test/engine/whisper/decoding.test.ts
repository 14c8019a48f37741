/** Greedy decoding against decode(model, mel, DecodingOptions(language='en', without_timestamps=True, sample_len=24)). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../../src/engine/npy.ts';
import { loadWhisperCheckpoint } from '../../../src/engine/whisper/checkpoint.ts';
import { decodeWindow } from '../../../src/engine/whisper/decoding.ts';
import { WhisperModel } from '../../../src/engine/whisper/model.ts';
import { WhisperSessions, type EncodedAudio } from '../../../src/engine/whisper/session.ts';
import { LANGUAGE_CODES, WhisperTokenizer } from '../../../src/engine/whisper/tokenizer.ts';
import { decodeWithFallback, detectLanguage, transcribe } from '../../../src/engine/whisper/transcribe.ts';
import { Whisper, whisperMel } from '../../../src/engine/whisper/index.ts';
import { whisperFixture, whisperRankFile } from '../../helpers/fixtures.ts';

const rankFile = whisperRankFile();
const cases = JSON.parse(fs.readFileSync(whisperFixture('cases', 'cases.json'), 'utf8')) as {
  greedy: { tokens: number[]; text: string; avg_logprob: number };
};

describe.skipIf(!rankFile)('greedy decoding on whisper-micro', () => {
  let sessions: WhisperSessions;
  let tok: WhisperTokenizer;
  let audio: EncodedAudio;
  beforeAll(async () => {
    const ck = await loadWhisperCheckpoint(whisperFixture('whisper', 'micro.pt'));
    sessions = await WhisperSessions.create(new WhisperModel(ck.params, ck.dims));
    tok = WhisperTokenizer.load(rankFile!);
    audio = await sessions.encode(readNpy(whisperFixture('cases', 'mel.npy')).data as Float32Array);
  });
  afterAll(async () => {
    await sessions?.release();
  });

  it('samples exactly the official tokens and text, with the same average log-probability', async () => {
    const r = await decodeWindow(sessions, tok, audio, { language: 'en', task: 'transcribe', sampleLen: 24 });
    expect(r.tokens).toEqual(cases.greedy.tokens);
    expect(r.text).toBe(cases.greedy.text);
    expect(Math.abs(r.avgLogprob - cases.greedy.avg_logprob)).toBeLessThan(1e-4);
    expect(r.noSpeechProb).toBeGreaterThan(0);
    expect(r.noSpeechProb).toBeLessThan(1);
    expect(r.compressionRatio).toBeGreaterThan(2.4); // a repetition loop: what transcribe's fallback looks for
  });

  it('stops at sample_len and never samples a suppressed token', async () => {
    const r = await decodeWindow(sessions, tok, audio, { sampleLen: 3, suppressTokens: [-1, 15384] });
    expect(r.tokens).toHaveLength(3);
    expect(r.tokens).not.toContain(15384);
    for (const t of r.tokens) expect(tok.nonSpeechTokens()).not.toContain(t);
  });

  it('temperature fallback: a repetition loop at 0 falls back to sampling; a single temperature does not', async () => {
    const only0 = await decodeWithFallback(sessions, tok, audio, { language: 'en', temperatures: [0], sampleLen: 24 });
    expect(only0.tokens).toEqual(cases.greedy.tokens);
    const r = await decodeWithFallback(sessions, tok, audio, { language: 'en', sampleLen: 24 });
    expect(r.temperature).toBeGreaterThan(0);
    const again = await decodeWithFallback(sessions, tok, audio, { language: 'en', sampleLen: 24 });
    expect(again.tokens).toEqual(r.tokens); // the default seed makes the draws repeatable
  });

  it('detects a language among the model\'s 99', async () => {
    const d = await detectLanguage(sessions, tok, audio);
    expect(LANGUAGE_CODES.slice(0, 99)).toContain(d.language);
    expect([...d.probs.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('walks long audio in 30-second windows', async () => {
    const pcm = readNpy(whisperFixture('cases', 'pcm16k.npy')).data as Float32Array;
    const long = new Float32Array(65 * 16000);
    for (let i = 0; i < long.length; i += pcm.length) long.set(pcm.subarray(0, Math.min(pcm.length, long.length - i)), i);
    const t = await transcribe(sessions, tok, long, { language: 'en', temperatures: [0], sampleLen: 4 });
    expect(t.language).toBe('en');
    expect(t.segments.length + t.skipped).toBe(3);
    expect(t.segments.map((s) => [s.start, s.end])).toEqual([
      [0, 30],
      [30, 60],
      [60, 65],
    ].slice(0, t.segments.length));
    expect(t.text).toBe(t.segments.map((s) => s.text).join(''));
  });

  it('Whisper.load finds the rank file beside the checkpoint and transcribes a clip as transcribe() does', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-whisper-load-'));
    try {
      fs.symlinkSync(whisperFixture('whisper', 'micro.pt'), path.join(dir, 'micro.pt'));
      await expect(Whisper.load(path.join(dir, 'micro.pt'))).rejects.toThrow(/multilingual\.tiktoken is missing/);
      fs.symlinkSync(rankFile!, path.join(dir, 'multilingual.tiktoken'));
      const w = await Whisper.load(path.join(dir, 'micro.pt'));
      try {
        const pcm = readNpy(whisperFixture('cases', 'pcm16k.npy')).data as Float32Array;
        const t = await w.transcribe(pcm, { language: 'en', temperatures: [0], sampleLen: 24 });
        // transcribe() decodes the 1100 content frames of the 11 s clip followed by zeros (pad_or_trim of
        // the mel segment), not the mel of the clip padded to 30 s that decode() got above.
        const mel = whisperMel(pcm).data;
        for (let m = 0; m < 80; m++) mel.fill(0, m * 3000 + 1100, (m + 1) * 3000);
        const want = await decodeWindow(sessions, tok, await sessions.encode(mel), { language: 'en', sampleLen: 24 });
        expect(t.segments).toHaveLength(1);
        expect(t.segments[0]!.tokens).toEqual(want.tokens);
        expect(t.segments[0]!).toMatchObject({ start: 0, end: 11, temperature: 0 });
        expect(t.text).toBe(tok.decode(want.tokens));
      } finally {
        await w.release();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
