/**
 * `inspect biggan` and `inspect bigsleep` as users run them (a child process each), against every case of
 * the biggan-tiny fixture written by the official code; errors are checked in process.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectMain } from '../../src/cli/inspect.ts';
import { readNpy, writeNpy } from '../../src/engine/npy.ts';
import { gradientAgreement, maxAbsError } from '../helpers/compare.ts';
import { bigganFixture, repoRoot } from '../helpers/fixtures.ts';

interface Result { code: number; stdout: string; stderr: string }
interface Case { kind: string; truncation: number; output?: string; mode?: string; image?: string; grads?: string[]; loss_value?: number }

const IMAGINE = path.join(repoRoot, 'src/cli/imagine.ts');
const ENTRY = fs.existsSync(IMAGINE) ? [IMAGINE, 'inspect'] : [path.join(repoRoot, 'src/cli/inspect.ts')];
const F = (...p: string[]) => bigganFixture(...p);
const C = (name: string) => F('cases', `${name}.npy`);
const cases = (JSON.parse(fs.readFileSync(F('cases', 'cases.json'), 'utf8')) as { cases: Case[] }).cases;
const forward = cases.filter((c) => c.kind === 'forward');
const bigsleep = cases.filter((c) => c.kind === 'bigsleep');

function inspect(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ...ENTRY, ...args], { cwd: repoRoot, maxBuffer: 1 << 24, env: { ...process.env, REVERIE_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
const out = (key: string) => path.join(tmp, `${key}.npy`);
const runs = new Map<string, Result>();
const topkArgs = (c: Case) => (c.mode === 'topk2' ? ['--max-classes', '2', '--class-temperature', '2'] : []);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-inspect-biggan-'));
  const jobs: [string, string[]][] = [
    ...forward.map((c): [string, string[]] => [
      `fw-${c.truncation}`,
      ['biggan', '--biggan', F('biggan'), '--z', C('z'), '--classes', C('class_vector'), '--truncation', String(c.truncation), '--out', out(`fw-${c.truncation}`)],
    ]),
    ...bigsleep.map((c): [string, string[]] => [
      `bs-${c.mode}`,
      ['bigsleep', '--biggan', F('biggan'), '--normu', C('bs_normu'), '--cls', C('bs_cls'), ...topkArgs(c), '--probe', C('bs_probe'),
        '--out', out(`bs-${c.mode}`), '--grad-normu', out(`gn-${c.mode}`), '--grad-cls', out(`gc-${c.mode}`)],
    ]),
  ];
  // two at a time (two cores)
  for (let i = 0; i < jobs.length; i += 2) {
    const pair = jobs.slice(i, i + 2);
    const results = await Promise.all(pair.map(([, args]) => inspect(args)));
    pair.forEach(([key], j) => runs.set(key, results[j]!));
  }
}, 300_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function expectImage(file: string, refName: string): void {
  const a = readNpy(file);
  const b = readNpy(C(refName));
  expect(a.dtype).toBe('float32');
  expect(a.shape).toEqual(b.shape);
  const { err, bound } = maxAbsError(a.data as Float32Array, b.data as Float32Array);
  expect(err, `max|a−b| ${err}`).toBeLessThanOrEqual(bound);
}

describe('inspect biggan', () => {
  it.each(forward)('BigGAN.forward at truncation $truncation: [2,3,32,32] within 1e-4·max(1,max|ref|)', (c) => {
    const r = runs.get(`fw-${c.truncation}`)!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('float32 [2,3,32,32]');
    expectImage(out(`fw-${c.truncation}`), c.output!);
  });
});

describe('inspect bigsleep', () => {
  it.each(bigsleep)('$mode: image, loss and gradients (cosine ≥ 0.9999, relative L2 ≤ 1e-3)', (c) => {
    const r = runs.get(`bs-${c.mode}`)!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^loss (\S+)$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Math.abs(Number(m![1]) - c.loss_value!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(c.loss_value!)));
    expectImage(out(`bs-${c.mode}`), c.image!);
    for (const [file, refName] of [[out(`gn-${c.mode}`), c.grads![0]!], [out(`gc-${c.mode}`), c.grads![1]!]] as const) {
      const a = readNpy(file);
      const b = readNpy(C(refName));
      expect(a.shape).toEqual(b.shape);
      const { cosine, relL2 } = gradientAgreement(a.data as Float32Array, b.data as Float32Array);
      expect(cosine, refName).toBeGreaterThanOrEqual(0.9999);
      expect(relL2, refName).toBeLessThanOrEqual(1e-3);
    }
  });
});

describe('inspect biggan / bigsleep errors: one line, exit 2 for usage and 1 for runtime errors', () => {
  const never = () => path.join(tmp, 'never.npy');
  const bs = (...extra: string[]) => ['bigsleep', '--biggan', F('biggan'), '--normu', C('bs_normu'), '--cls', C('bs_cls'), '--probe', C('bs_probe'),
    '--out', never(), '--grad-normu', never(), '--grad-cls', never(), ...extra];
  type ErrCase = [name: string, args: () => string[], code: number, pattern: RegExp];
  const errors: ErrCase[] = [
    ['missing --truncation', () => ['biggan', '--biggan', F('biggan'), '--z', C('z'), '--classes', C('class_vector'), '--out', never()], 2, /^inspect biggan: missing --truncation T$/],
    ['truncation 0', () => ['biggan', '--biggan', F('biggan'), '--z', C('z'), '--classes', C('class_vector'), '--truncation', '0', '--out', never()], 2, /^inspect biggan: --truncation must be in \(0, 1\], got 0$/],
    ['z of the wrong width', () => ['biggan', '--biggan', F('biggan'), '--z', C('class_vector'), '--classes', C('class_vector'), '--truncation', '1', '--out', never()], 1,
      /^inspect biggan: .*class_vector\.npy: z has shape \[2,10\], expected \[B,16\] \(this model's z_dim is 16\)$/],
    ['classes for another batch', () => ['biggan', '--biggan', F('biggan'), '--z', C('z'), '--classes', C('bs_cls'), '--truncation', '1', '--out', never()], 1,
      /^inspect biggan: .*bs_cls\.npy: class vector has shape \[7,10\], expected \[2,10\]/],
    ['normu with the wrong rows', () => ['bigsleep', '--biggan', F('biggan'), '--normu', C('z'), '--cls', C('bs_cls'), '--probe', C('bs_probe'), '--out', never(), '--grad-normu', never(), '--grad-cls', never()], 1,
      /^inspect bigsleep: .*z\.npy: normu has shape \[2,16\], expected \[7,16\] \(7 rows: gen_z and 6 GenBlocks\)$/],
    ['too many classes', () => bs('--max-classes', '11'), 2, /^inspect bigsleep: --max-classes 11 exceeds the model's 10 classes$/],
    ['temperature without top-k', () => bs('--class-temperature', '2'), 2, /^inspect bigsleep: --class-temperature only applies with --max-classes$/],
    ['probe of the wrong size', () => ['bigsleep', '--biggan', F('biggan'), '--normu', C('bs_normu'), '--cls', C('bs_cls'), '--probe', C('image_trunc1.0'), '--out', never(), '--grad-normu', never(), '--grad-cls', never()], 1,
      /^inspect bigsleep: .*image_trunc1\.0\.npy: probe has shape \[2,3,32,32\], expected \[1,3,32,32\]/],
    ['missing folder', () => ['biggan', '--biggan', path.join(tmp, 'nothing'), '--z', C('z'), '--classes', C('class_vector'), '--truncation', '1', '--out', never()], 1,
      /^inspect biggan: BigGAN model folder not found: .*nothing$/],
    ['folder without config.json', () => ['biggan', '--biggan', path.join(tmp, 'no-config'), '--z', C('z'), '--classes', C('class_vector'), '--truncation', '1', '--out', never()], 1,
      /^inspect biggan: no config\.json in .*no-config/],
  ];

  beforeAll(() => {
    fs.mkdirSync(path.join(tmp, 'no-config'), { recursive: true });
    writeNpy(path.join(tmp, 'no-config', 'placeholder.npy'), { dtype: 'float32', shape: [1], data: [0] });
  });

  it.each(errors)('%s', async (_name, args, code, pattern) => {
    const lines: string[] = [];
    const io = { out: () => {}, warn: () => {}, error: (l: string) => lines.push(l) };
    expect(await inspectMain(args(), io)).toBe(code);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(fs.existsSync(never())).toBe(false);
  });

  it('--help lists the BigGAN subcommands', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), warn: () => {}, error: () => {} };
    expect(await inspectMain(['--help'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/inspect biggan --biggan DIR --z z\.npy --classes c\.npy --truncation T --out img\.npy/);
    expect(lines.join('\n')).toMatch(/inspect bigsleep --biggan DIR --normu n\.npy --cls c\.npy \[--max-classes K --class-temperature T\]/);
  });
});
