/**
 * `imagine "prompt" -o out.png`: paints one picture with VQGAN+CLIP in this process, with the options of
 * the reference generate.py (see imagine-options.ts and `imagine --help`). `imagine inspect ...` runs the
 * model-checking commands of inspect.ts.
 *
 * Output: a progress bar on stderr in a terminal, plain progress lines otherwise, or with --json one JSON
 * object per step on stdout and a final {"done":true,...}. Exit codes: 0 done, 2 bad command line (one
 * line on stderr), 1 failure while painting (one line), 130 interrupted (Ctrl-C stops after the step in
 * flight; nothing half-written is left: every file is written to a temporary name and renamed).
 */
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { reportError } from './args.ts';
import { helpText, parseImagineArgs, type ImagineOptions } from './imagine-options.ts';
import { takeVoiceArgs, VOICE_HELP, withVoice } from './voice.ts';
import type { StepReport } from '../engine/generate/generator.ts';

export interface ImagineIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** aborts the run (Ctrl-C) */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs the CLI and returns the exit code; an error becomes one line on stderr (exit 2 for usage errors, else 1). */
export async function runImagine(argv: string[], io: ImagineIo = defaultIo()): Promise<number> {
  try {
    return await imagineMain(argv, io);
  } catch (err) {
    return reportError('imagine', err, io.stderr as NodeJS.WritableStream);
  }
}

/** Runs the CLI; returns the exit code. Usage errors throw a UsageError (exit code 2, see args.ts). */
export async function imagineMain(argv: string[], io: ImagineIo = defaultIo()): Promise<number> {
  if (argv[0] === 'inspect') {
    const { inspectMain } = await import('./inspect.ts');
    return inspectMain(argv.slice(1), {
      out: (line) => io.stdout.write(`${line}\n`),
      warn: (line) => io.stderr.write(`warning: ${line}\n`),
      error: (line) => io.stderr.write(`${line}\n`),
    });
  }
  if (argv[0] === 'transcribe') return (await import('./voice.ts')).transcribeMain(argv.slice(1), io);
  const voice = takeVoiceArgs(argv);
  const parse = (a: string[]) => parseImagineArgs(a, io.env ?? process.env, io.cwd ?? process.cwd());
  const opts = voice.voice ? await withVoice({ ...voice, voice: voice.voice }, parse, io) : parse(voice.whisper ? voice.rest : argv);
  if (opts.help) {
    io.stdout.write(`${helpText()}\n\n${VOICE_HELP}\n`);
    return 0;
  }
  return paint(opts, io);
}

async function paint(opts: ImagineOptions, io: ImagineIo): Promise<number> {
  const t0 = performance.now();
  const seed = opts.seed ?? randomInt(0, 2 ** 32 - 1);
  const say = (line: string) => {
    if (!opts.json) io.stderr.write(`${line}\n`);
  };
  say(`seed ${seed}${opts.seed === undefined ? ' (random; pass -sd to repeat this picture)' : ''}`);

  const { Engine, loadModels, AbortedError } = await import('../engine/generate/generator.ts');
  const { roundSize } = await import('../engine/generate/settings.ts');
  const { addPngText, readPngText, upscalePng } = await import('../engine/generate/images.ts');
  const { onRuntimeWarning, parseDevice } = await import('../engine/graph/index.ts');

  let models: Awaited<ReturnType<typeof loadModels>>;
  try {
    models = await loadModels(opts.clipDir, opts.vqganDir, opts.bigganDir ? { bigganDir: opts.bigganDir } : {});
  } catch (err) {
    throw new Error(`could not load the models (${opts.clipDir}, ${opts.vqganDir}): ${(err as Error).message}`);
  }
  const factor = models.vqgan.config.factor;
  const size = roundSize(opts.width, opts.height, factor);
  if (opts.model === 'vqgan' && (size.width !== opts.width || size.height !== opts.height)) say(`size ${opts.width}×${opts.height} rounded down to ${size.width}×${size.height} (a multiple of ${factor})`);

  const engine = new Engine(models, parseDevice(opts.device), opts.threads, undefined, undefined, opts.memory);
  // on stderr even with --json: stdout stays the JSON lines
  const stopWarnings = onRuntimeWarning((m) => io.stderr.write(`warning: ${m}\n`));
  const progress = progressReporter(opts, io);
  const pending: Promise<void>[] = [];
  let snapshotError: unknown;
  let lastStep = 0;
  if (opts.snapshots) fs.mkdirSync(opts.snapshots, { recursive: true });
  const digits = Math.max(4, String(opts.steps).length);
  try {
    let result: Awaited<ReturnType<typeof engine.generate>>;
    try {
      result = await engine.generate(
        {
          prompts: opts.prompts,
          imagePrompts: opts.imagePrompts,
          noisePrompts: opts.noisePrompts,
          width: opts.width,
          height: opts.height,
          steps: opts.steps,
          seed,
          cutn: opts.cutn,
          cutMethod: opts.cutMethod,
          cutPow: opts.cutPow,
          augments: opts.augments,
          lr: opts.lr,
          optimiser: opts.optimiser,
          ...(opts.initImage ? { initImage: opts.initImage } : {}),
          ...(opts.initNoise ? { initNoise: opts.initNoise } : {}),
          initWeight: opts.initWeight,
          saveEvery: opts.timelapse || opts.snapshots ? opts.saveEvery : 0,
          timelapse: !!opts.timelapse,
          ...(opts.model !== 'vqgan' ? { model: opts.model } : {}),
          ...pick(opts, ['maxClasses', 'classTemperature', 'emaDecay', 'bilinear', 'sirenLayers', 'sirenHidden', 'accumulate', 'averagingWeight']),
        },
        {
          ...(io.signal ? { signal: io.signal } : {}),
          onProgress: (p) => {
            lastStep = p.step;
            progress.step(p);
          },
          onSnapshot: (s) => {
            if (!opts.snapshots) return;
            const file = path.join(opts.snapshots, `step-${String(s.step).padStart(digits, '0')}.png`);
            pending.push(writeAtomic(file, s.png).catch((err: unknown) => void (snapshotError ??= err)));
          },
        },
      );
    } catch (err) {
      progress.end();
      await Promise.allSettled(pending);
      if (err instanceof AbortedError) return cancelled(opts, io, lastStep, seed);
      throw err;
    }
    progress.end();
    await Promise.all(pending);
    if (io.signal?.aborted) return cancelled(opts, io, lastStep, seed);
    if (snapshotError) throw snapshotError;

    let png = result.png;
    if (opts.upscale && opts.upscale !== 1) png = addPngText(await upscalePng(png, opts.upscale), { ...readPngText(result.png), upscale: String(opts.upscale) });
    const written: string[] = [];
    if (opts.timelapse) {
      const anim = opts.timelapse.format === 'webp' ? result.timelapseWebp : result.timelapseGif;
      if (anim) {
        await writeAtomic(opts.timelapse.file, anim);
        written.push(opts.timelapse.file);
      }
    }
    await writeAtomic(opts.output, png);
    written.unshift(opts.output);
    const seconds = (performance.now() - t0) / 1000;
    if (opts.json) {
      io.stdout.write(
        `${JSON.stringify({
          done: true,
          output: opts.output,
          ...(opts.timelapse ? { timelapse: opts.timelapse.file } : {}),
          seed,
          width: result.width,
          height: result.height,
          steps: opts.steps,
          loss: progress.last?.loss ?? null,
          similarity: progress.last?.similarity ?? null,
          seconds: round(seconds, 3),
        })}\n`,
      );
    } else {
      io.stdout.write(`wrote ${written.map((f) => path.relative(io.cwd ?? process.cwd(), f) || f).join(', ')} (${result.width}×${result.height}, ${opts.steps} steps, seed ${seed}, ${fmtDuration(seconds)})\n`);
    }
    return 0;
  } finally {
    stopWarnings();
    await engine.release();
  }
}

function cancelled(opts: ImagineOptions, io: ImagineIo, step: number, seed: number): number {
  if (opts.json) io.stdout.write(`${JSON.stringify({ cancelled: true, step, steps: opts.steps, seed })}\n`);
  else io.stderr.write(`imagine: cancelled after step ${step} of ${opts.steps}; ${opts.output} was not written\n`);
  return 130;
}

/** Writes to a temporary name beside the file, then renames, so a reader never sees half a file. */
async function writeAtomic(file: string, data: Uint8Array): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await fs.promises.writeFile(tmp, data);
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw new Error(`could not write ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

type StepInfo = StepReport;

/** Progress on the terminal (bar), in a log (a line every 10 steps) or as JSON lines on stdout. */
export function progressReporter(opts: Pick<ImagineOptions, 'json'>, io: Pick<ImagineIo, 'stdout' | 'stderr'>): { step(p: StepInfo): void; end(): void; last: StepInfo | undefined } {
  const tty = !!io.stderr.isTTY;
  let drawn = false;
  const r = {
    last: undefined as StepInfo | undefined,
    step(p: StepInfo) {
      r.last = p;
      if (opts.json) {
        io.stdout.write(`${JSON.stringify({ step: p.step, steps: p.steps, loss: num(p.loss, 6), similarity: num(p.similarity, 6), itPerSec: num(p.itPerSec, 3), etaSec: num(p.etaSec, 1) })}\n`);
      } else if (tty) {
        io.stderr.write(`\r\x1b[K${formatBar(p, io.stderr.columns || 80)}`);
        drawn = true;
      } else if (p.step === 1 || p.step % 10 === 0 || p.step === p.steps) {
        io.stderr.write(`${formatLine(p)}\n`);
      }
    },
    end() {
      if (drawn) io.stderr.write('\n');
      drawn = false;
    },
  };
  return r;
}

const num = (x: number, digits: number): number | null => (Number.isFinite(x) ? round(x, digits) : null);
const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  if (sec < 60) return `${sec.toFixed(1)} s`;
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function formatLine(p: StepInfo): string {
  const w = String(p.steps).length;
  return `step ${String(p.step).padStart(w)}/${p.steps}  loss ${p.loss.toFixed(4)}  similarity ${p.similarity.toFixed(4)}  ${p.itPerSec.toFixed(2)} it/s  ETA ${fmtDuration(p.etaSec)}`;
}

export function formatBar(p: StepInfo, columns: number): string {
  const text = ` ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  ${p.itPerSec.toFixed(2)} it/s  ETA ${fmtDuration(p.etaSec)}`;
  const width = Math.max(10, Math.min(40, columns - text.length - 3));
  const filled = Math.round((p.step / p.steps) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${text}`.slice(0, Math.max(20, columns - 1));
}

function defaultIo(): ImagineIo {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** Entry point: Ctrl-C (or SIGTERM) stops after the step in flight; a second one quits at once. */
export async function cli(): Promise<void> {
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    if (process.stderr.isTTY) process.stderr.write('\n');
    process.stderr.write(`imagine: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping after this step (again to quit now)\n`);
    ac.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // stdout closed early (`imagine --json ... | head -3`): stop painting, quietly
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    ac.abort(err);
  });
  try {
    process.exitCode = await runImagine(process.argv.slice(2), { ...defaultIo(), signal: ac.signal });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) void cli();

/** The keys of `o` that are set. */
function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]])) as Partial<Pick<T, K>>;
}
