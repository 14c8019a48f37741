/**
 * `imagine inspect siren` as users run it (a child process) on every siren-tiny case, against the
 * outputs of siren-pytorch: image max|a−b| ≤ 1e-4·max(1, max|b|); every weight gradient cosine ≥ 0.9999
 * and relative L2 ≤ 1e-3 (the fixture README's tolerances). Errors in process.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectMain } from '../../src/cli/inspect.ts';
import { readNpy, writeNpy } from '../../src/engine/npy.ts';
import { gradientAgreement, maxAbsError } from '../helpers/compare.ts';
import { fixturesDir, repoRoot } from '../helpers/fixtures.ts';

/** siren-tiny sits beside parity-tiny (../shared/fixtures); REVERIE_SIREN_FIXTURES overrides. */
const SIREN = process.env.REVERIE_SIREN_FIXTURES ?? path.resolve(fixturesDir, '../siren-tiny');

interface Case {
  image: string;
  probe: string;
  loss_value: number;
  grads: Record<string, string>;
}

/** cases.json holds one case object or a list of them (each with its own file names). */
function loadCases(): Case[] {
  const raw = JSON.parse(fs.readFileSync(path.join(SIREN, 'cases', 'cases.json'), 'utf8')) as Case | Case[] | { cases: Case[] };
  if (Array.isArray(raw)) return raw;
  return 'cases' in raw ? raw.cases : [raw];
}
const CASES = loadCases();
const caseFile = (name: string) => path.join(SIREN, 'cases', `${name}.npy`);

let tmp: string;
const results: { code: number; stdout: string; stderr: string }[] = [];

function imagine(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/imagine.ts'), 'inspect', ...args], { cwd: repoRoot, env: { ...process.env, REVERIE_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-inspect-siren-'));
  for (const [i, c] of CASES.entries()) {
    results.push(
      await imagine(['siren', '--siren', path.join(SIREN, 'siren'), '--probe', caseFile(c.probe), '--out', path.join(tmp, `image-${i}.npy`), '--grads', path.join(tmp, `grads-${i}`)]),
    );
  }
}, 300_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each(CASES.map((c, i) => [i, c] as const))('inspect siren, case %i', (i, c) => {
  it('exits cleanly and prints the loss of the reference', () => {
    const r = results[i]!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^loss (\S+)$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Math.abs(Number(m![1]) - c.loss_value)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(c.loss_value)));
  });

  it('image = norm_siren_output(siren(grid)) within 1e-4·max(1, max|ref|)', () => {
    const a = readNpy(path.join(tmp, `image-${i}.npy`));
    const b = readNpy(caseFile(c.image));
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual(b.shape);
    const { err, bound } = maxAbsError(a.data as Float32Array, b.data as Float32Array);
    expect(err, `max|a−b| ${err}`).toBeLessThanOrEqual(bound);
  });

  it('one gradient file per weight, each with cosine ≥ 0.9999 and relative L2 ≤ 1e-3', () => {
    const files = fs.readdirSync(path.join(tmp, `grads-${i}`)).sort();
    expect(files).toEqual(Object.values(c.grads).map((f) => `${f}.npy`).sort());
    for (const [name, file] of Object.entries(c.grads)) {
      expect(file).toBe(`grad__${name.replace(/\./g, '_')}`);
      const a = readNpy(path.join(tmp, `grads-${i}`, `${file}.npy`));
      const b = readNpy(caseFile(file));
      expect(a.shape, name).toEqual(b.shape);
      const { cosine, relL2 } = gradientAgreement(a.data as Float32Array, b.data as Float32Array);
      expect(cosine, `${name} cosine`).toBeGreaterThanOrEqual(0.9999);
      expect(relL2, `${name} relative L2`).toBeLessThanOrEqual(1e-3);
    }
  });
});

describe('inspect siren errors (in process)', () => {
  const run = async (args: string[]) => {
    const lines: string[] = [];
    const code = await inspectMain(['siren', ...args], { out: (l) => lines.push(`out ${l}`), warn: (l) => lines.push(`warn ${l}`), error: (l) => lines.push(l) });
    return { code, lines };
  };
  const never = () => path.join(tmp, 'never.npy');

  it('--grads without --probe is a usage error', async () => {
    const r = await run(['--siren', path.join(SIREN, 'siren'), '--grads', path.join(tmp, 'g'), '--out', never()]);
    expect(r).toEqual({ code: 2, lines: ['inspect siren: --grads needs --probe (the gradients are those of sum(image · probe))'] });
  });
  it('a probe of the wrong shape names the expected one', async () => {
    const bad = path.join(tmp, 'probe-bad.npy');
    writeNpy(bad, { dtype: 'float32', shape: [1, 3, 4, 4], data: new Float32Array(48) });
    const r = await run(['--siren', path.join(SIREN, 'siren'), '--probe', bad, '--out', never()]);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^inspect siren: .*probe-bad\.npy: probe has shape \[1,3,4,4\], expected \[1,3,12,16\]/);
  });
  it('a missing folder and a folder without config.json are one line each', async () => {
    expect((await run(['--siren', path.join(tmp, 'none'), '--out', never()])).lines).toEqual([`inspect siren: SIREN model folder not found: ${path.join(tmp, 'none')}`]);
    const r = await run(['--siren', path.join(SIREN, 'cases'), '--out', never()]);
    expect(r.code).toBe(1);
    expect(r.lines[0]).toMatch(/^inspect siren: no config\.json in /);
    expect(fs.existsSync(never())).toBe(false);
  });
  it('without a probe it writes only the image', async () => {
    const out = path.join(tmp, 'only-image.npy');
    const r = await run(['--siren', path.join(SIREN, 'siren'), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([`out ${out}: float32 [1,3,12,16]`]);
  });
  it('is listed in inspect --help', async () => {
    const lines: string[] = [];
    await inspectMain(['--help'], { out: (l) => lines.push(l), warn: () => {}, error: () => {} });
    expect(lines.join('\n')).toContain('inspect siren --siren DIR --probe p.npy --out img.npy --grads DIR');
  });
});
