/**
 * The Whisper subcommands of `imagine inspect` (hooked into inspect.ts), to check the engine against the
 * official openai/whisper code:
 *
 *   inspect mel --audio PCM.npy --out MEL.npy                                   float32 [n_mels,3000]
 *   inspect whisper-encode --whisper FILE.pt --mel MEL.npy --out ENC.npy        float32 [1,1500,D]
 *   inspect whisper-logits --whisper FILE.pt --mel MEL.npy --tokens P.npy --out L.npy   float32 [1,T,vocab]
 *   inspect whisper-tokens --out IDS.json TEXT...                               [[ids of text 1], ...]
 *   inspect transcribe --whisper FILE.pt --audio PCM.npy [--max-tokens N] [--json]
 *
 * The tokenizer needs the reference's rank file (multilingual.tiktoken; gpt2.tiktoken for the English-only
 * models): --vocab FILE, else beside the checkpoint, else MODELS_DIR/whisper/.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNpy, type NpyArray } from '../engine/npy.ts';
import { loadWhisperCheckpoint } from '../engine/whisper/checkpoint.ts';
import { N_FRAMES, N_SAMPLES, SAMPLE_RATE, logMelSpectrogram, padOrTrim } from '../engine/whisper/mel.ts';
import { WhisperModel } from '../engine/whisper/model.ts';
import { decodeWindow, isMultilingual, numLanguages } from '../engine/whisper/decoding.ts';
import { WhisperSessions, encoderGraph, logitsGraph } from '../engine/whisper/session.ts';
import { LANGUAGE_CODES, WhisperTokenizer } from '../engine/whisper/tokenizer.ts';
import { CliError, UsageError, type OptionSpecs, type ParsedOptions } from './args.ts';
import { deviceOf, fmtShape, readArray, run, save, type InspectIo } from './inspect-common.ts';

interface WhisperCommand<S extends OptionSpecs> {
  summary: string;
  usage: string;
  spec: S;
  positionals?: { min?: number; max?: number; name?: string };
  run(o: ParsedOptions<S>, positionals: string[], io: InspectIo): Promise<void>;
}
const command = <const S extends OptionSpecs>(c: WhisperCommand<S>): WhisperCommand<S> => c;

const out = { out: { type: 'string', required: true, valueName: 'FILE', help: 'where to write the result' } } as const satisfies OptionSpecs;
const device = { device: { type: 'string', valueName: 'DEV', help: 'cpu (default) or cuda:N' } } as const satisfies OptionSpecs;
const whisper = { whisper: { type: 'string', required: true, valueName: 'FILE.pt', help: 'an official Whisper checkpoint (tiny.pt, base.pt, ...)' } } as const satisfies OptionSpecs;
const vocab = { vocab: { type: 'string', valueName: 'FILE', help: 'tokenizer rank file (default: beside the checkpoint, else MODELS_DIR/whisper/)' } } as const satisfies OptionSpecs;
const melOpt = { mel: { type: 'string', required: true, valueName: 'MEL.npy', help: 'float32 [n_mels,3000] or [1,n_mels,3000] (inspect mel writes one)' } } as const satisfies OptionSpecs;

export const WHISPER_COMMANDS = {
  mel: command({
    summary: 'Whisper log-Mel spectrogram of one 30-second window (pad_or_trim then log_mel_spectrogram), float32 [n_mels,3000]',
    usage: 'inspect mel --audio PCM.npy --out MEL.npy [--n-mels 80|128]',
    spec: {
      audio: { type: 'string', required: true, valueName: 'PCM.npy', help: 'float32 mono samples at 16 kHz (1-D)' },
      'n-mels': { type: 'integer', valueName: 'N', min: 1, help: 'mel bands: 80 (default) or 128 (large-v3)' },
      ...out,
    },
    async run(o, _p, io) {
      const pcm = readPcm(o.audio);
      const nMels = o['n-mels'] ?? 80;
      if (nMels !== 80 && nMels !== 128) throw new UsageError(`--n-mels must be 80 or 128, got ${nMels}`);
      const mel = logMelSpectrogram(padOrTrim(pcm), { nMels });
      save(o.out, { dtype: 'float32', shape: [nMels, mel.frames], data: mel.data }, io);
    },
  }),
  'whisper-encode': command({
    summary: 'Whisper encoder output of a mel window, float32 [1,n_audio_ctx,n_audio_state]',
    usage: 'inspect whisper-encode --whisper FILE.pt --mel MEL.npy --out ENC.npy',
    spec: { ...whisper, ...melOpt, ...out, ...device },
    async run(o, _p, io) {
      const dev = deviceOf(o.device);
      const model = await loadModel(o.whisper);
      const mel = readMel(o.mel, model);
      const r = await run(encoderGraph(model, 1, false), { mel }, dev);
      const d = model.dims;
      save(o.out, { dtype: 'float32', shape: [1, d.nAudioCtx, d.nAudioState], data: r.audio as Float32Array }, io);
    },
  }),
  'whisper-logits': command({
    summary: 'Whisper decoder logits of a token prompt over a mel window (model.decoder(tokens, encoder(mel))), float32 [1,T,vocab]',
    usage: 'inspect whisper-logits --whisper FILE.pt --mel MEL.npy --tokens PROMPT.npy --out LOGITS.npy',
    spec: { ...whisper, ...melOpt, tokens: { type: 'string', required: true, valueName: 'PROMPT.npy', help: 'int64 (or int32) token ids [T] or [1,T]' }, ...out, ...device },
    async run(o, _p, io) {
      const dev = deviceOf(o.device);
      const model = await loadModel(o.whisper);
      const mel = readMel(o.mel, model);
      const tokens = readTokens(o.tokens, model);
      const enc = await run(encoderGraph(model, 1, false), { mel }, dev);
      const r = await run(logitsGraph(model, 1, tokens.length), { tokens, audio: enc.audio as Float32Array }, dev);
      save(o.out, { dtype: 'float32', shape: [1, tokens.length, model.dims.nVocab], data: r.logits as Float32Array }, io);
    },
  }),
  'whisper-tokens': command({
    summary: "the multilingual tokenizer's ids of each text (tiktoken encode, no special tokens), JSON [[ids], ...]",
    usage: 'inspect whisper-tokens --out IDS.json TEXT...',
    spec: { out: { ...out.out, valueName: 'IDS.json' }, ...vocab },
    positionals: { min: 1, max: Infinity, name: 'text' },
    async run(o, texts, io) {
      const tok = loadTokenizer(o.vocab ?? defaultRankFile(undefined, true), 99);
      const ids = texts.map((t, i) => {
        try {
          return tok.encode(t);
        } catch (err) {
          throw new CliError(`text ${i + 1}: ${(err as Error).message}`);
        }
      });
      writeText(o.out, `${JSON.stringify(ids)}\n`);
      io.out(`${o.out}: ids of ${texts.length} text${texts.length === 1 ? '' : 's'} (${ids.map((x) => x.length).join(', ')} tokens)`);
    },
  }),
  transcribe: command({
    summary: 'greedy decoding of the first 30-second window (temperature 0, no timestamps, no fallback), as decode(model, mel, DecodingOptions(...))',
    usage: 'inspect transcribe --whisper FILE.pt --audio PCM.npy [--max-tokens N] [--language en] [--task transcribe] [--json]',
    spec: {
      ...whisper,
      audio: { type: 'string', required: true, valueName: 'PCM.npy', help: 'float32 mono samples at 16 kHz (1-D)' },
      'max-tokens': { type: 'integer', valueName: 'N', min: 1, help: 'most tokens to sample (sample_len; default n_text_ctx/2 = 224)' },
      language: { type: 'string', valueName: 'CODE', choices: LANGUAGE_CODES, help: 'spoken language (default en)' },
      task: { type: 'string', valueName: 'TASK', choices: ['transcribe', 'translate'], help: 'transcribe (default) or translate' },
      json: { type: 'boolean', help: 'print one JSON object (tokens, text, avg_logprob, no_speech_prob, ...) instead of the text' },
      ...vocab,
      ...device,
    },
    async run(o, _p, io) {
      const dev = deviceOf(o.device);
      const pcm = readPcm(o.audio);
      const model = await loadModel(o.whisper);
      const { nVocab } = model.dims;
      const tok = loadTokenizer(o.vocab ?? defaultRankFile(o.whisper, isMultilingual(nVocab)), numLanguages(nVocab));
      if (pcm.length > N_SAMPLES) io.warn(`${o.audio}: ${(pcm.length / SAMPLE_RATE).toFixed(1)} s of audio; only the first 30-second window is decoded`);
      const mel = logMelSpectrogram(padOrTrim(pcm), { nMels: model.dims.nMels });
      const sessions = await WhisperSessions.create(model, { device: dev });
      try {
        const r = await decodeWindow(sessions, tok, await sessions.encode(mel.data), {
          ...(o['max-tokens'] !== undefined ? { sampleLen: o['max-tokens'] } : {}),
          ...(o.language !== undefined ? { language: o.language } : {}),
          ...(o.task !== undefined ? { task: o.task as 'transcribe' | 'translate' } : {}),
        });
        io.out(
          o.json
            ? JSON.stringify({
                tokens: r.tokens,
                text: r.text,
                language: r.language,
                avg_logprob: r.avgLogprob,
                no_speech_prob: r.noSpeechProb,
                compression_ratio: r.compressionRatio,
                temperature: r.temperature,
              })
            : r.text,
        );
      } finally {
        await sessions.release();
      }
    },
  }),
};

// ---------------------------------------------------------------------------------------------- helpers

function readNpyFile(file: string, what: string): NpyArray {
  if (!fs.existsSync(file)) throw new CliError(`${what} file not found: ${file}`);
  try {
    return readNpy(file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function readPcm(file: string): Float32Array {
  const pcm = readArray(file, 'audio');
  if (pcm.shape.length !== 1 && !(pcm.shape.length === 2 && pcm.shape[0] === 1)) {
    throw new CliError(`${file}: audio has shape ${fmtShape(pcm.shape)}, expected mono samples [n] (16 kHz)`);
  }
  return pcm.data;
}

/** The rank file beside the checkpoint, else under MODELS_DIR/whisper/. */
function defaultRankFile(checkpoint: string | undefined, multilingual: boolean): string {
  const name = multilingual ? 'multilingual.tiktoken' : 'gpt2.tiktoken';
  const candidates = [...(checkpoint ? [path.join(path.dirname(checkpoint), name)] : []), path.join(process.env.MODELS_DIR || 'models', 'whisper', name)];
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) {
    throw new CliError(
      `the Whisper tokenizer needs ${name} (whisper/assets/${name} of openai/whisper); not found at ${candidates.join(' or ')}: put it there or pass --vocab FILE`,
    );
  }
  return found;
}

function loadTokenizer(file: string, languages: number): WhisperTokenizer {
  if (!fs.existsSync(file)) throw new CliError(`tokenizer rank file not found: ${file}`);
  try {
    return WhisperTokenizer.load(file, languages);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function writeText(file: string, text: string): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new CliError(`cannot write ${file}: folder ${dir} does not exist`);
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
}

function readMel(file: string, model: WhisperModel): Float32Array {
  const m = readArray(file, 'mel');
  const n = model.dims.nMels;
  const ok = (m.shape.length === 2 && m.shape[0] === n && m.shape[1] === N_FRAMES) || (m.shape.length === 3 && m.shape[0] === 1 && m.shape[1] === n && m.shape[2] === N_FRAMES);
  if (!ok) throw new CliError(`${file}: mel has shape ${fmtShape(m.shape)}, expected [${n},${N_FRAMES}] (one 30-second window of this model's ${n} mel bands)`);
  return m.data;
}

function readTokens(file: string, model: WhisperModel): BigInt64Array {
  const a = readNpyFile(file, 'tokens');
  if (!(a.data instanceof BigInt64Array || a.data instanceof Int32Array)) throw new CliError(`${file}: tokens have dtype ${a.dtype}, expected int64`);
  if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[0] === 1)) || a.data.length === 0) {
    throw new CliError(`${file}: tokens have shape ${fmtShape(a.shape)}, expected [T] or [1,T] with T ≥ 1`);
  }
  const ids = a.data instanceof BigInt64Array ? a.data : BigInt64Array.from(a.data, (v) => BigInt(v));
  const { nVocab, nTextCtx } = model.dims;
  if (ids.length > nTextCtx) throw new CliError(`${file}: ${ids.length} tokens exceed the model's text context of ${nTextCtx}`);
  ids.forEach((t, i) => {
    if (t < 0n || t >= BigInt(nVocab)) throw new CliError(`${file}: token ${i} is ${t}, outside the vocabulary [0, ${nVocab})`);
  });
  return ids;
}

async function loadModel(file: string): Promise<WhisperModel> {
  if (!fs.existsSync(file)) throw new CliError(`Whisper checkpoint not found: ${file}`);
  try {
    const ck = await loadWhisperCheckpoint(file);
    return new WhisperModel(ck.params, ck.dims);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}
