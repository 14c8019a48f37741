/**
 * Real speech files made at test time with Debian's espeak-ng and opus-tools (`.ci/run` installs them):
 * espeak-ng's 22.05 kHz PCM16 WAV, opusenc's Ogg/Opus (48 kHz, as Discord voice messages), and opusdec's
 * decodes (48 kHz float WAV; 16 kHz float WAV through the speex resampler: the reference resampling).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const haveSpeechTools = has('espeak-ng') && has('opusenc') && has('opusdec');

export interface SpeechFiles {
  dir: string;
  /** espeak-ng output: mono PCM16 at 22050 Hz */
  wav22k: string;
  /** opusenc of wav22k: Ogg/Opus, 48 kHz mono, like a Discord voice message */
  ogg: string;
  /** opusdec --float of ogg at 48 kHz */
  wav48kFloat: string;
  /** opusdec --float --rate 16000 of ogg: libopus then the speex resampler */
  ref16k: string;
}

/** espeak-ng says `text`; `padSeconds` of silence after it (to make long files). */
export function makeSpeech(text: string, opts: { padSeconds?: number; dir?: string } = {}): SpeechFiles {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-speech-'));
  const f = (n: string) => path.join(dir, n);
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '150', '-w', f('speech.wav'), text], { stdio: 'ignore' });
  if (opts.padSeconds) {
    const b = fs.readFileSync(f('speech.wav'));
    const pad = Buffer.alloc(Math.round(opts.padSeconds * 22050) * 2);
    const out = Buffer.concat([b.subarray(0, 44), b.subarray(44), pad]);
    out.writeUInt32LE(out.length - 8, 4);
    out.writeUInt32LE(out.length - 44, 40);
    fs.writeFileSync(f('speech.wav'), out);
  }
  execFileSync('opusenc', ['--quiet', '--bitrate', '64', f('speech.wav'), f('speech.ogg')], { stdio: 'ignore' });
  execFileSync('opusdec', ['--quiet', '--float', '--rate', '48000', f('speech.ogg'), f('speech48k.wav')], { stdio: 'ignore' });
  execFileSync('opusdec', ['--quiet', '--float', '--rate', '16000', f('speech.ogg'), f('ref16k.wav')], { stdio: 'ignore' });
  return { dir, wav22k: f('speech.wav'), ogg: f('speech.ogg'), wav48kFloat: f('speech48k.wav'), ref16k: f('ref16k.wav') };
}

/** Relative RMS difference ‖a − b‖ / ‖b‖ over the common length, a shifted by `lag` samples. */
export function relRms(a: Float32Array, b: Float32Array, lag = 0): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const j = i + lag;
    if (j < 0 || j >= a.length) continue;
    num += (a[j]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
