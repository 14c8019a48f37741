/**
 * Speech on the command line:
 *
 *   imagine transcribe clip.ogg [--whisper FILE] [--language en] [--device cpu] [--threads N] [--json]
 *       prints what was said (with --json: one object with the text, the prompt painted from it, the
 *       language, the no-speech probability, the clip's and the transcription's seconds)
 *   imagine --voice clip.ogg [--whisper FILE] [other imagine options]
 *       paints the spoken words (lead-in "imagine …", "Reverie, …" stripped), after any typed prompt
 *
 * Audio: Ogg/Opus or WAV, at most MAX_AUDIO_SECONDS (60). Whisper: --whisper, else WHISPER_MODEL under
 * MODELS_DIR (models/whisper/base.pt), its rank file beside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AudioError, decodeAudio } from '../engine/audio/index.ts';
import { parsePrompts, type WeightedPrompt } from '../engine/prompt-parse.ts';
import { judgeSpeech, type HeardSpeech } from '../jobs/transcriber.ts';
import { CliError, formatOptions, parseArgs, UsageError } from './args.ts';

export const TRANSCRIBE_SPEC = {
  whisper: { type: 'string', valueName: 'FILE', help: 'Whisper checkpoint (default $MODELS_DIR/$WHISPER_MODEL, models/whisper/base.pt)' },
  language: { type: 'string', valueName: 'CODE', help: 'language of the speech (default: detected)' },
  device: { type: 'string', valueName: 'DEV', help: 'cpu (default) or cuda:N' },
  threads: { type: 'integer', min: 1, valueName: 'N', help: 'ONNX Runtime threads' },
  'max-seconds': { type: 'integer', min: 1, max: 600, valueName: 'S', help: 'longest clip accepted (default $MAX_AUDIO_SECONDS, 60)' },
  json: { type: 'boolean', help: 'one JSON object on stdout' },
} as const;

export interface ListenOptions {
  whisper?: string;
  language?: string;
  device?: string;
  threads?: number;
  maxSeconds?: number;
}

function defaultWhisper(env: NodeJS.ProcessEnv, cwd: string): string {
  return path.resolve(cwd, env.MODELS_DIR || './models', env.WHISPER_MODEL || 'whisper/base.pt');
}

/** Decodes and transcribes a file in this process; the result judged as the bot judges it. */
export async function listenToFile(file: string, opts: ListenOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<HeardSpeech> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path.resolve(cwd, file));
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const maxSeconds = opts.maxSeconds ?? (Number(env.MAX_AUDIO_SECONDS) || 60);
  let pcm: Float32Array;
  try {
    pcm = decodeAudio(bytes, { maxSeconds }).pcm;
  } catch (e) {
    if (e instanceof AudioError) throw new CliError(`${file}: ${e.message}${e.code === 'not_audio' || e.code === 'unsupported' ? ' (Ogg/Opus or WAV expected)' : ''}`);
    throw e;
  }
  const checkpoint = opts.whisper ? path.resolve(cwd, opts.whisper) : defaultWhisper(env, cwd);
  if (!fs.existsSync(checkpoint)) throw new CliError(`the Whisper checkpoint ${checkpoint} is missing: run npm run models:pull -- --whisper base, or pass --whisper FILE`);
  const { Whisper } = await import('../engine/whisper/index.ts');
  const { parseDevice } = await import('../engine/graph/index.ts');
  const w = await Whisper.load(checkpoint, { ...(opts.device ? { device: parseDevice(opts.device) } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    const t0 = performance.now();
    const t = await w.transcribe(pcm, opts.language ? { language: opts.language } : {});
    const noSpeechProb = t.segments.length ? Math.min(...t.segments.map((s) => s.noSpeechProb)) : 1;
    return judgeSpeech({ text: t.text, language: t.language, noSpeechProb, audioSeconds: pcm.length / 16000, ms: performance.now() - t0, device: opts.device ?? 'cpu' });
  } finally {
    await w.release();
  }
}

export async function transcribeMain(argv: string[], io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown }; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<number> {
  const { values, positionals, help } = parseArgs(argv, TRANSCRIBE_SPEC, { positionals: { min: 1, max: 1, name: 'FILE' }, command: 'transcribe' });
  if (help) {
    io.stdout.write(`imagine transcribe FILE [options]: print what is said in an Ogg/Opus or WAV clip\n\n${formatOptions(TRANSCRIBE_SPEC)}\n`);
    return 0;
  }
  const heard = await listenToFile(positionals[0]!, toListen(values), io.env ?? process.env, io.cwd ?? process.cwd());
  const r = heard.result;
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ text: heard.heard, prompt: heard.ok ? heard.prompt : null, language: r.language, noSpeechProb: r.noSpeechProb, audioSeconds: r.audioSeconds, seconds: r.ms / 1000, ...(heard.ok ? {} : { problem: heard.reason }) })}\n`);
    return heard.ok || heard.reason === 'nothing_left' ? 0 : 1;
  }
  if (!heard.ok && heard.reason === 'no_speech') {
    io.stderr.write(`transcribe: no speech heard in ${positionals[0]} (no-speech probability ${r.noSpeechProb.toFixed(2)})\n`);
    return 1;
  }
  io.stdout.write(`${heard.heard}\n`);
  return 0;
}

function toListen(v: { whisper?: string | undefined; language?: string | undefined; device?: string | undefined; threads?: number | undefined; 'max-seconds'?: number | undefined }): ListenOptions {
  return {
    ...(v.whisper ? { whisper: v.whisper } : {}),
    ...(v.language ? { language: v.language } : {}),
    ...(v.device ? { device: v.device } : {}),
    ...(v.threads ? { threads: v.threads } : {}),
    ...(v['max-seconds'] ? { maxSeconds: v['max-seconds'] } : {}),
  };
}

/** Takes `--voice FILE` and `--whisper FILE` (also `--name=value`) out of imagine's argv. */
export function takeVoiceArgs(argv: string[]): { voice?: string; whisper?: string; rest: string[] } {
  const rest: string[] = [];
  const out: { voice?: string; whisper?: string } = {};
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '--') {
      rest.push(...argv.slice(k));
      break;
    }
    const m = /^--(voice|whisper)(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? argv[++k];
    if (value === undefined || value === '') throw new UsageError(`--${m[1]} expects a file`);
    out[m[1] as 'voice' | 'whisper'] = value;
  }
  return { ...out, rest };
}

/**
 * imagine's options with the spoken words added: the other options are checked before listening (with
 * no typed prompt, the words are the prompt; with one, they are one more prompt after it).
 */
export async function withVoice<O extends { help?: boolean; device: string; threads?: number | undefined; prompts: WeightedPrompt[] }>(
  v: { voice: string; whisper?: string; rest: string[] },
  parse: (argv: string[]) => O,
  io: { stderr: { write(s: string): unknown }; env?: NodeJS.ProcessEnv; cwd?: string },
): Promise<O> {
  let opts: O | undefined;
  try {
    opts = parse(v.rest);
  } catch (e) {
    if (!(e instanceof UsageError && /nothing to paint/.test(e.message))) throw e;
  }
  if (opts?.help) return opts;
  const device = opts?.device ?? (v.rest.includes('--device') ? v.rest[v.rest.indexOf('--device') + 1] : undefined);
  const heard = await listenToFile(v.voice, { ...(v.whisper ? { whisper: v.whisper } : {}), ...(device ? { device } : {}), ...(opts?.threads ? { threads: opts.threads } : {}) }, io.env ?? process.env, io.cwd ?? process.cwd());
  io.stderr.write(`🎙️ heard: “${heard.heard}”\n`);
  if (!heard.ok) throw new CliError(heard.userMessage);
  if (!opts) return parse([...v.rest, '-p', heard.prompt]);
  return { ...opts, prompts: [...opts.prompts, ...parsePrompts(heard.prompt)] };
}

export const VOICE_HELP = [
  'Voice:',
  '  --voice FILE          paint what is said in an Ogg/Opus or WAV clip (lead-in "imagine …" stripped; after -p if both)',
  '  --whisper FILE        Whisper checkpoint (default $MODELS_DIR/$WHISPER_MODEL, models/whisper/base.pt)',
  '  imagine transcribe FILE [--json]   print what is said in a clip',
].join('\n');
