/** Greedy decoding against decode(model, mel, DecodingOptions(language='en', without_timestamps=True, sample_len=24)). */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '../../../src/engine/npy.ts';
import { loadWhisperCheckpoint } from '../../../src/engine/whisper/checkpoint.ts';
import { decodeGreedy } from '../../../src/engine/whisper/decoding.ts';
import { WhisperModel } from '../../../src/engine/whisper/model.ts';
import { WhisperSessions, type EncodedAudio } from '../../../src/engine/whisper/session.ts';
import { WhisperTokenizer } from '../../../src/engine/whisper/tokenizer.ts';
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
    const r = await decodeGreedy(sessions, tok, audio, { language: 'en', task: 'transcribe', sampleLen: 24 });
    expect(r.tokens).toEqual(cases.greedy.tokens);
    expect(r.text).toBe(cases.greedy.text);
    expect(Math.abs(r.avgLogprob - cases.greedy.avg_logprob)).toBeLessThan(1e-4);
    expect(r.noSpeechProb).toBeGreaterThan(0);
    expect(r.noSpeechProb).toBeLessThan(1);
    expect(r.compressionRatio).toBeGreaterThan(2.4); // a repetition loop: what transcribe's fallback looks for
  });

  it('stops at sample_len and never samples a suppressed token', async () => {
    const r = await decodeGreedy(sessions, tok, audio, { sampleLen: 3, suppressTokens: [-1, 15384] });
    expect(r.tokens).toHaveLength(3);
    expect(r.tokens).not.toContain(15384);
    for (const t of r.tokens) expect(tok.nonSpeechTokens()).not.toContain(t);
  });
});
