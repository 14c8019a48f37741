/**
 * The imagine CLI: its command line (the reference generate.py's short names), its one-line errors with
 * exit code 2, and real runs with the tiny fixture models, as a child process (few spawns: each costs
 * seconds) and in this process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImagineArgs, parseRaw } from '../../src/cli/imagine-options.ts';
import { formatBar, formatLine, progressReporter, runImagine } from '../../src/cli/imagine.ts';
import { readPngText } from '../../src/engine/generate/images.ts';
import { fixture, repoRoot } from '../helpers/fixtures.ts';

const CLIP = fixture('clip-openai');
const VQGAN = fixture('vqgan');
const MODELS = ['--clip', CLIP, '--vqgan', VQGAN];
/** A short, cheap picture: 64×64, 4 original cutouts, one thread. */
const SMALL = ['-s', '64', '64', '-cuts', '4', '-cutm', 'original', '--threads', '1', ...MODELS];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-imagine-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

async function inProcess(argv: string[], opts: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runImagine(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: opts.tty ?? false, columns: 100 },
    env: opts.env ?? {},
    cwd: tmp,
  });
  return { code, stdout, stderr };
}

interface Child extends Captured {
  signal: NodeJS.Signals | null;
}

/** Spawns the CLI; `onStdout` sees stdout as it comes (to send Ctrl-C at the right moment). */
function child(args: string[], opts: { entry?: string[]; env?: NodeJS.ProcessEnv; onStdout?: (all: string, kill: (s: NodeJS.Signals) => void) => void } = {}): Promise<Child> {
  return new Promise((resolve) => {
    // the child runs in the temporary folder, so tsx is named by its URL rather than its package name
    const entry = opts.entry ?? ['--import', pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href, path.join(repoRoot, 'src/cli/imagine.ts')];
    const p = spawn(process.execPath, [...entry, ...args], { cwd: tmp, env: { ...process.env, REVERIE_DEBUG: '', ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => p.kill(s));
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}

function expectOneLineUsageError(r: Captured, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^imagine: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('command line', () => {
  it('reads the reference short names, long names (_ or -, =value) and lists', () => {
    fs.writeFileSync(path.join(tmp, 'ip.png'), 'not really a png, only checked to exist');
    fs.writeFileSync(path.join(tmp, 'init.png'), 'x');
    const o = parseImagineArgs(
      [
        '-p', 'a red fox:1 | snow:0.5:0.2', '-ip', 'ip.png:0.5 | ip.png', '-i', '42', '-se', '7', '-s', '128', '96',
        '-ii', 'init.png', '-iw', '0.25', '-nps', '3', '4', '-npw', '-0.5', '-lr', '0.2', '-opt', 'adamw',
        '-cutm', 'updated', '-cuts', '8', '-cutp', '0.8', '-aug', 'Af', 'Pe,Ji', '-sd', '123', '-o', 'fox.png',
        '--timelapse', 'fox.gif', '--snapshots', 'snaps', '--upscale', '2', '--device=cpu', '--threads', '2', '--json', ...MODELS,
      ],
      {},
      tmp,
    );
    expect(o.prompts).toEqual([
      { text: 'a red fox', weight: 1, stop: -Infinity },
      { text: 'snow', weight: 0.5, stop: 0.2 },
    ]);
    expect(o.imagePrompts).toEqual([
      { source: path.join(tmp, 'ip.png'), weight: 0.5, stop: -Infinity },
      { source: path.join(tmp, 'ip.png'), weight: 1, stop: -Infinity },
    ]);
    expect(o).toMatchObject({
      steps: 42, saveEvery: 7, width: 128, height: 96, initImage: path.join(tmp, 'init.png'), initWeight: 0.25,
      noisePrompts: [{ seed: 3, weight: -0.5 }, { seed: 4, weight: 1 }], lr: 0.2, optimiser: 'AdamW', cutMethod: 'updated',
      cutn: 8, cutPow: 0.8, augments: ['Af', 'Pe', 'Ji'], seed: 123, output: path.join(tmp, 'fox.png'),
      timelapse: { file: path.join(tmp, 'fox.gif'), format: 'gif' }, snapshots: path.join(tmp, 'snaps'), upscale: 2,
      device: 'cpu', threads: 2, json: true, clipDir: CLIP, vqganDir: VQGAN,
    });
    // defaults, the positional prompt, long spellings
    const d = parseImagineArgs(['a lighthouse', '--image-prompts=ip.png', '--learning_rate', '0.05', '-s', '80x48', ...MODELS], {}, tmp);
    expect(d).toMatchObject({ steps: 200, saveEvery: 50, width: 80, height: 48, lr: 0.05, optimiser: 'Adam', cutMethod: 'latest', cutn: 32, augments: ['Af', 'Pe', 'Ji', 'Er'], output: path.join(tmp, 'output.png'), json: false });
    expect(d.seed).toBeUndefined();
    expect(d.prompts[0]!.text).toBe('a lighthouse');
    // model folders from MODELS_DIR / CLIP_MODEL / VQGAN_MODEL
    const m = parseImagineArgs(['x'], { MODELS_DIR: path.dirname(CLIP), CLIP_MODEL: 'clip-openai', VQGAN_MODEL: VQGAN }, tmp);
    expect([m.clipDir, m.vqganDir]).toEqual([CLIP, VQGAN]);
    expect(parseRaw(['--', '-a prompt that starts with a dash']).positionals).toEqual(['-a prompt that starts with a dash']);
    expect(parseImagineArgs(['--help'], {}, tmp).help).toBe(true);
  });

  const bad: [string[], RegExp][] = [
    [['x', '--bogus'], /unknown option --bogus/],
    [['x', '--iteratons', '5'], /unknown option --iteratons \(did you mean --iterations\?\)/],
    [['x', '-p'], /-p needs a value/],
    [['x', '-o', '-i', '3'], /-o needs a value/],
    [['x', '-i', 'abc'], /-i expects a whole number, got "abc"/],
    [['x', '--iterations=2.5'], /--iterations expects a whole number/],
    [['x', '-i', '0'], /-i must be between 1 and 100000, got 0/],
    [['x', '-i', '5', '-i', '6'], /-i was given more than once/],
    [['x', '-lr', '-1'], /-lr must be above 0/],
    [['x', '-cuts', '0'], /-cuts must be between 1 and 512/],
    [['x', '-s', '64'], /-s needs two numbers/],
    [['x', '-s', '64', '0'], /-s must be between 1 and 8192 \(height\), got 0/],
    [['x', '-opt', 'SGD'], /-opt: unknown optimiser "SGD": use one of Adam, AdamW, Adagrad, Adamax, RMSprop, RAdam, AdamP, DiffGrad/],
    [['x', '-cutm', 'wide'], /-cutm: unknown cut method "wide"/],
    [['x', '-aug', 'Af', 'Zz'], /-aug: unknown augment "Zz"/],
    [['x', '-in', 'clouds'], /-in must be pixels or gradient/],
    [['x', '-ii', 'missing.png'], /-ii: no such file: .*missing\.png/],
    [['x', '-ip', 'missing.png:0.5'], /-ip: no such file: .*missing\.png/],
    [['x', '-nps', '1', '-npw', '1', '2'], /-npw has 2 weights for 1 noise prompt seeds/],
    [['x', '-sd', '-3'], /-sd must be between 0 and/],
    [['x', '-o', 'a.jpg'], /-o: .* must end in \.png/],
    [['x', '-o', 'no/such/dir/a.png'], /-o: the folder .* does not exist/],
    [['x', '--timelapse', 'a.mp4'], /--timelapse: the file name must end in \.webp or \.gif/],
    [['x', '--timelapse', 'a.gif', '-se', '0'], /--timelapse needs snapshots/],
    [['x', '--upscale', '0.5'], /--upscale must be between 1 and 16/],
    [['x', '--device', 'gpu'], /--device must be cpu or cuda:N, got "gpu"/],
    [['x', '--json=yes'], /--json is a flag and takes no value/],
    [['x', '-p', 'y'], /either as the argument or with -p, not both/],
    [['x', 'y'], /expected one prompt argument, got 2/],
    [[], /nothing to paint/],
    [['a fox:big'], /-p: I couldn't read the weight “big”/],
    [['x', '--clip', '/nonexistent/clip'], /--clip: model folder not found: \/nonexistent\/clip$/],
  ];
  it.each(bad)('%j → one line, exit code 2', async (argv, pattern) => {
    const extra = argv.includes('--clip') ? [] : MODELS;
    expectOneLineUsageError(await inProcess([...argv, ...extra]), pattern);
  });

  it('the default model folders come from MODELS_DIR, with a hint when they are missing', async () => {
    expectOneLineUsageError(await inProcess(['x'], { env: { MODELS_DIR: '/nonexistent/models' } }), /--clip: model folder not found: \/nonexistent\/models\/clip-vit-b-32 \(run `npm run models:pull`/);
  });

  it('a model folder without its files is a usage error too', async () => {
    const empty = path.join(tmp, 'empty-vqgan');
    fs.mkdirSync(empty, { recursive: true });
    expectOneLineUsageError(await inProcess(['x', '--clip', CLIP, '--vqgan', empty]), /--vqgan: missing VQGAN checkpoint/);
  });

  it('--help and `imagine inspect` are dispatched', async () => {
    const help = await inProcess(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-cutm, --cut_method M/);
    const inspect = await inProcess(['inspect', '--help']);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/inspect tokens/);
    const badInspect = await inProcess(['inspect', 'bogus']);
    expect(badInspect.code).toBe(2);
    expect(badInspect.stderr).toMatch(/^inspect: unknown subcommand "bogus"/);
  });

  it('progress: plain lines and a terminal bar', () => {
    const p = { step: 10, steps: 200, loss: 0.81234, similarity: 0.3312, itPerSec: 1.5, etaSec: 126.7 };
    expect(formatLine(p)).toBe('step  10/200  loss 0.8123  similarity 0.3312  1.50 it/s  ETA 2m07s');
    expect(formatBar(p, 80)).toMatch(/^\[#+-+\] 10\/200 {2}loss 0\.8123 {2}1\.50 it\/s {2}ETA 2m07s$/);
    let err = '';
    const rep = progressReporter({ json: false }, { stdout: { write: () => 0 }, stderr: { write: (s: string) => (err += s), isTTY: false } });
    for (let step = 1; step <= 25; step++) rep.step({ ...p, step, steps: 25 });
    rep.end();
    expect(err.trim().split('\n').map((l) => l.split('/')[0])).toEqual(['step  1', 'step 10', 'step 20', 'step 25']);
  });
});

describe('painting', () => {
  it('in a terminal: a progress bar, the seed, and the written file (in-process run)', async () => {
    const r = await inProcess(['a red apple', '-i', '2', '-sd', '5', '-o', 'tty.png', ...SMALL], { tty: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^seed 5\n/);
    expect(r.stderr).toMatch(/\r\x1b\[K\[#+\] 2\/2 /);
    expect(r.stdout).toMatch(/^wrote tty\.png \(64×64, 2 steps, seed 5, /);
    const png = fs.readFileSync(path.join(tmp, 'tty.png'));
    expect(readPngText(png)).toMatchObject({ prompt: 'a red apple', seed: '5' });
  });

  it('two runs with one seed at 2 threads, 30 steps of the latest cutouts (warp augments): identical bytes', async () => {
    const args = ['a red apple', '-i', '30', '-sd', '8', '-s', '64', '64', '-cuts', '8', '-cutm', 'latest', '--threads', '2', ...MODELS];
    const a = await inProcess([...args, '-o', 'same-a.png']);
    const b = await inProcess([...args, '-o', 'same-b.png']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'same-a.png')).equals(fs.readFileSync(path.join(tmp, 'same-b.png')))).toBe(true);
  });

  it('a failure while painting is one line with exit code 1', async () => {
    fs.writeFileSync(path.join(tmp, 'junk.png'), 'this is not a picture');
    const r = await inProcess(['a red apple', '-ip', 'junk.png', '-i', '1', '-sd', '1', '-o', 'junk-out.png', ...SMALL]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines).toEqual(['seed 1', expect.stringMatching(/^imagine: could not read image .*junk\.png: /)]);
    expect(fs.existsSync(path.join(tmp, 'junk-out.png'))).toBe(false);
  });

  it('as child processes: --json run with timelapse, snapshots and upscale; Ctrl-C; one-line errors', async () => {
    let linesAtInterrupt = -1;
    const [ok, interrupted, unknownFlag, noModels] = await Promise.all([
      child(['-p', 'a red apple', '-i', '4', '-se', '2', '-sd', '11', '-o', 'out.png', '--timelapse', 'out.gif', '--snapshots', 'snaps', '--upscale', '2', '--json', ...SMALL]),
      child(['a red apple', '-i', '500', '-sd', '1', '-o', 'never.png', '--timelapse', 'never.webp', '--json', ...SMALL], {
        onStdout: (all, kill) => {
          if (linesAtInterrupt < 0 && all.includes('\n')) {
            linesAtInterrupt = all.split('\n').filter(Boolean).length;
            kill('SIGINT');
          }
        },
      }),
      child(['a red apple', '--bogus'], { entry: [path.join(repoRoot, 'bin/imagine.js')] }),
      child(['a red apple'], { env: { MODELS_DIR: path.join(tmp, 'no-models') } }),
    ]);

    // --json: one object per step, then the summary
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toBe('');
    const objs = ok.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs.slice(0, 4).map((o) => o.step)).toEqual([1, 2, 3, 4]);
    for (const o of objs.slice(0, 4)) {
      expect(o).toMatchObject({ steps: 4 });
      expect(typeof o.loss).toBe('number');
      expect(typeof o.similarity).toBe('number');
      expect(typeof o.itPerSec).toBe('number');
    }
    expect(objs[4]).toMatchObject({ done: true, seed: 11, width: 64, height: 64, steps: 4, output: path.join(tmp, 'out.png'), timelapse: path.join(tmp, 'out.gif') });
    const png = fs.readFileSync(path.join(tmp, 'out.png'));
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([128, 128]); // --upscale 2
    expect(readPngText(png)).toMatchObject({ prompt: 'a red apple', seed: '11', upscale: '2' });
    expect(JSON.parse(readPngText(png).settings!)).toMatchObject({ steps: 4, cutn: 4, cutMethod: 'original' });
    const gif = await sharp(fs.readFileSync(path.join(tmp, 'out.gif')), { animated: true }).metadata();
    expect(gif.format).toBe('gif');
    expect(gif.pages).toBeGreaterThan(1);
    expect(fs.readdirSync(path.join(tmp, 'snaps')).sort()).toEqual(['step-0000.png', 'step-0002.png']);

    // Ctrl-C: stops after the step in flight, exit 130, nothing written (no temporary files either)
    expect(interrupted.code, interrupted.stderr).toBe(130);
    const lines = interrupted.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = lines.filter((l) => typeof l.step === 'number' && !l.cancelled);
    expect(steps.length - linesAtInterrupt).toBeLessThanOrEqual(2);
    expect(lines.at(-1)).toMatchObject({ cancelled: true, steps: 500, seed: 1 });
    expect(interrupted.stderr).toMatch(/interrupted: stopping after this step/);
    expect(fs.existsSync(path.join(tmp, 'never.png'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'never.webp'))).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    // usage errors through the package bin launcher and the script: one line, exit 2, no stack trace
    expectOneLineUsageError(unknownFlag, /unknown option --bogus/);
    expectOneLineUsageError(noModels, /--clip: model folder not found: .*no-models\/clip-vit-b-32/);
  });
});
