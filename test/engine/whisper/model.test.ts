/**
 * The Whisper encoder and decoder in process against the official outputs of whisper-micro (random
 * weights at micro dimensions, the release file format).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, serialize, type Graph, type HostArray } from '../../../src/engine/graph/index.ts';
import { readNpy } from '../../../src/engine/npy.ts';
import { WhisperCheckpointError, loadWhisperCheckpoint, parseDims } from '../../../src/engine/whisper/checkpoint.ts';
import { WhisperModel } from '../../../src/engine/whisper/model.ts';
import { WhisperSessions, encoderGraph, logitsGraph } from '../../../src/engine/whisper/session.ts';
import { maxAbsError } from '../../helpers/compare.ts';
import { whisperFixture } from '../../helpers/fixtures.ts';

const f32 = (name: string) => readNpy(whisperFixture('cases', name)).data as Float32Array;
const cases = JSON.parse(fs.readFileSync(whisperFixture('cases', 'cases.json'), 'utf8')) as { dims: Record<string, number> };

async function run(g: Graph, feeds: Record<string, HostArray>): Promise<Record<string, HostArray>> {
  const s = await Session.create(serialize(g));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function expectClose(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const { err, bound } = maxAbsError(got, want);
  expect(err).toBeLessThanOrEqual(bound);
}

let model: WhisperModel;
beforeAll(async () => {
  const ck = await loadWhisperCheckpoint(whisperFixture('whisper', 'micro.pt'));
  model = new WhisperModel(ck.params, ck.dims);
});

describe('Whisper checkpoint', () => {
  it('reads the dims of the release format', () => {
    const d = cases.dims;
    expect(model.dims).toEqual({
      nMels: d.n_mels,
      nAudioCtx: d.n_audio_ctx,
      nAudioState: d.n_audio_state,
      nAudioHead: d.n_audio_head,
      nAudioLayer: d.n_audio_layer,
      nVocab: d.n_vocab,
      nTextCtx: d.n_text_ctx,
      nTextState: d.n_text_state,
      nTextHead: d.n_text_head,
      nTextLayer: d.n_text_layer,
    });
  });

  it('refuses dims that are missing or do not split into heads', () => {
    expect(() => parseDims(undefined, 'x.pt')).toThrow(WhisperCheckpointError);
    const m = new Map<string, number>(Object.entries(cases.dims));
    m.delete('n_vocab');
    expect(() => parseDims(m, 'x.pt')).toThrow(/dims.n_vocab is missing/);
    expect(() => parseDims({ ...cases.dims, n_audio_head: 3 }, 'x.pt')).toThrow(/heads/);
  });

  it('refuses a weight file that is not a Whisper checkpoint', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-whisper-'));
    try {
      const bad = path.join(dir, 'x.pt');
      fs.writeFileSync(bad, 'not a zip at all');
      await expect(loadWhisperCheckpoint(bad)).rejects.toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Whisper on the engine', () => {
  it('encoder: model.encoder(mel) [1,1500,64]', async () => {
    const o = await run(encoderGraph(model, 1, false), { mel: f32('mel.npy') });
    expectClose(o.audio as Float32Array, f32('encoder_out.npy'));
  });

  it('decoder: model.decoder(prompt, encoder_out) [1,T,51865], all positions at once', async () => {
    const prompt = readNpy(whisperFixture('cases', 'decoder_prompt.npy'));
    const o = await run(logitsGraph(model, 1, prompt.shape[0]!), { tokens: prompt.data as BigInt64Array, audio: f32('encoder_out.npy') });
    expectClose(o.logits as Float32Array, f32('decoder_logits.npy'));
  });

  describe('with the key/value cache', () => {
    let sessions: WhisperSessions;
    beforeAll(async () => {
      sessions = await WhisperSessions.create(model);
    });
    afterAll(async () => {
      await sessions?.release();
    });

    it('one token at a time gives the same logits at every position, and the encoder output rides along', async () => {
      const prompt = [...(readNpy(whisperFixture('cases', 'decoder_prompt.npy')).data as BigInt64Array)].map(Number);
      const enc = await sessions.encode(f32('mel.npy'));
      expectClose(enc.audio, f32('encoder_out.npy'));
      const cache = sessions.newCache();
      const V = model.dims.nVocab;
      const got = new Float32Array(prompt.length * V);
      for (let i = 0; i < prompt.length; i++) got.set(await sessions.decodeStep([prompt[i]!], cache, enc), i * V);
      expect(cache.length).toBe(prompt.length);
      expectClose(got, f32('decoder_logits.npy'));
    });

    it('refuses a step once the text context is full', async () => {
      const enc = await sessions.encode(f32('mel.npy'));
      const cache = sessions.newCache();
      cache.length = cache.capacity;
      await expect(sessions.decodeStep([0], cache, enc)).rejects.toThrow(/context of 448 tokens is full/);
    });
  });
});
