/**
 * `npm run bench -- --whisper [--size base] [--tokens 100] [--device cpu] [--threads N]`: Whisper's
 * seconds per 30-second window at a released size (random weights: shapes cost time, values do not):
 * log-Mel, encoder, the 4-token start sequence and `tokens` cached decoder steps (about 30 s of speech).
 */
import os from 'node:os';
import { parseDevice } from '../engine/graph/index.ts';
import { WHISPER_SIZES, benchWhisperWindow, type WhisperSize } from '../engine/whisper/bench.ts';

function arg(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
}

export async function benchWhisper(argv: string[]): Promise<Record<string, unknown>> {
  const size = arg(argv, 'size', 'base') as WhisperSize;
  if (!(size in WHISPER_SIZES)) throw new Error(`--size expects one of ${Object.keys(WHISPER_SIZES).join(', ')}`);
  const device = parseDevice(arg(argv, 'device', 'cpu'));
  const threads = Number(arg(argv, 'threads', String(os.availableParallelism())));
  const tokens = Number(arg(argv, 'tokens', '100'));
  const r = await benchWhisperWindow({ size, device, threads, tokens });
  const s = r.seconds;
  return {
    whisper: {
      size,
      device,
      threads,
      params: r.params,
      tokens,
      secPerWindow: Number(s.window.toFixed(3)),
      /** seconds of audio per second of work */
      realtimeFactor: Number((30 / s.window).toFixed(1)),
      seconds: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number(v.toFixed(4))])),
      cpuSeconds: Object.fromEntries(Object.entries(r.cpuSeconds).map(([k, v]) => [k, Number(v.toFixed(3))])),
      peakRssMiB: Math.round(r.peakRssMiB),
      finite: r.finite,
    },
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
  };
}
