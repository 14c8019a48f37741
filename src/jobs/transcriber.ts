/**
 * Voice prompts: speech goes to a device's engine worker (Whisper) as a small job beside the paint
 * job that worker may be running. This is the design, kept simple on purpose:
 *
 * - a transcription is short (≤ 60 s of audio: two 30-second windows, a few seconds at the base size)
 *   and a member waits for it in front of Discord, so it does not wait in the fair queue behind
 *   minutes-long paintings; it rides along on a worker, which runs at most one transcription at a time
 *   and interleaves it with its painting step by step (each holds the device for one ONNX Runtime run at
 *   a time), so the painting slows down by the transcription's time and no more;
 * - the worker is the one with the fewest transcriptions in flight, an idle one (no painting) first;
 * - fairness between members: one transcription per member at a time, and at most `maxWaiting` in all
 *   (more are refused politely) so a burst of voice messages cannot crowd out the painting.
 *
 * It also decides what was heard: no speech (every window's no-speech probability over the reference's
 * 0.6) or nothing left once the lead-in is stripped gets a private answer; otherwise the prompt.
 * Durations go to /reverie stats.
 */
import type { JobRunner, SpeechRequest, SpeechResult } from './types.ts';
import { promptFromSpeech } from './voice-prompt.ts';

/** whisper/transcribe.py's no_speech_threshold. */
export const NO_SPEECH_THRESHOLD = 0.6;

export class TranscriptionRefusedError extends Error {
  override readonly name = 'TranscriptionRefusedError';
  constructor(
    readonly code: 'unavailable' | 'busy_user' | 'busy',
    readonly userMessage: string,
  ) {
    super(userMessage);
  }
}

export type HeardSpeech =
  | { ok: true; prompt: string; heard: string; result: SpeechResult }
  | { ok: false; reason: 'no_speech' | 'nothing_left'; heard: string; result: SpeechResult; userMessage: string };

export interface TranscriptionStats {
  count: number;
  failures: number;
  /** median seconds per transcription, and per second of audio */
  medianSec: number | undefined;
  medianSecPerAudioSec: number | undefined;
  totalSec: number;
}

export interface TranscriberOptions {
  /** transcriptions waiting or running in all (default 8) */
  maxWaiting?: number;
  /** devices running a paint job now (to prefer idle ones) */
  busyDevices?(): Iterable<string>;
  noSpeechThreshold?: number;
}

const KEEP = 200;

export class Transcriber {
  private readonly inFlight = new Map<JobRunner, number>();
  private readonly users = new Set<string>();
  private readonly samples: Array<{ sec: number; audio: number }> = [];
  private count = 0;
  private failures = 0;
  private totalSec = 0;

  constructor(
    private readonly runners: readonly JobRunner[],
    private readonly opts: TranscriberOptions = {},
  ) {}

  get available(): boolean {
    return this.runners.some((r) => r.transcribe && r.alive !== false);
  }

  private pick(): JobRunner | undefined {
    const busy = new Set(this.opts.busyDevices?.() ?? []);
    let best: JobRunner | undefined;
    let bestKey = Infinity;
    for (const r of this.runners) {
      if (!r.transcribe || r.alive === false || r.state === 'failed' || r.state === 'closed') continue;
      const key = (this.inFlight.get(r) ?? 0) * 2 + (busy.has(r.device) ? 1 : 0);
      if (key < bestKey) [best, bestKey] = [r, key];
    }
    return best;
  }

  /** Transcribes for a member and judges the result. Throws TranscriptionRefusedError, or the engine's error. */
  async hear(userId: string, req: SpeechRequest): Promise<HeardSpeech> {
    const runner = this.pick();
    if (!runner) throw new TranscriptionRefusedError('unavailable', 'Voice prompts are not available here: no painter can transcribe speech right now.');
    if (this.users.has(userId)) throw new TranscriptionRefusedError('busy_user', 'I am still listening to your previous clip; try again once it is done.');
    const waiting = [...this.inFlight.values()].reduce((a, b) => a + b, 0);
    if (waiting >= (this.opts.maxWaiting ?? 8)) throw new TranscriptionRefusedError('busy', 'Too many voice clips are waiting to be transcribed right now; please try again in a minute.');
    this.users.add(userId);
    this.inFlight.set(runner, (this.inFlight.get(runner) ?? 0) + 1);
    let result: SpeechResult;
    try {
      result = await runner.transcribe!(req);
    } catch (e) {
      this.failures++;
      throw e;
    } finally {
      this.users.delete(userId);
      this.inFlight.set(runner, (this.inFlight.get(runner) ?? 1) - 1);
    }
    this.record(result);
    return judgeSpeech(result, this.opts.noSpeechThreshold ?? NO_SPEECH_THRESHOLD);
  }

  private record(r: SpeechResult): void {
    this.count++;
    this.totalSec += r.ms / 1000;
    this.samples.push({ sec: r.ms / 1000, audio: r.audioSeconds });
    if (this.samples.length > KEEP) this.samples.shift();
  }

  stats(): TranscriptionStats {
    return {
      count: this.count,
      failures: this.failures,
      medianSec: median(this.samples.map((s) => s.sec)),
      medianSecPerAudioSec: median(this.samples.filter((s) => s.audio > 0).map((s) => s.sec / s.audio)),
      totalSec: this.totalSec,
    };
  }
}

/** What a transcript means for painting. */
export function judgeSpeech(result: SpeechResult, threshold = NO_SPEECH_THRESHOLD): HeardSpeech {
  const heard = result.text.trim();
  if (result.noSpeechProb > threshold || !heard) {
    return { ok: false, reason: 'no_speech', heard, result, userMessage: "I couldn't hear any words in that clip (it sounds like silence or noise). Try again a little closer to the microphone." };
  }
  const prompt = promptFromSpeech(heard);
  if (!prompt) {
    return { ok: false, reason: 'nothing_left', heard, result, userMessage: `I heard “${heard}”, but nothing to paint in it. Say what to paint, e.g. “imagine a lighthouse in a storm”.` };
  }
  return { ok: true, prompt, heard, result };
}

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
