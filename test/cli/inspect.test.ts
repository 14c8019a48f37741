/**
 * The parity CLI as users run it (a child process per command), against the parity-tiny fixtures
 * written by the official code, for both CLIP folders (OpenAI safetensors and HF torch zip).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectMain } from '../../src/cli/inspect.ts';
import { readNpy, writeNpy, type NpyArray } from '../../src/engine/npy.ts';
import { openWeights } from '../../src/engine/weights/index.ts';
import { gradientAgreement, maxAbsError } from '../helpers/compare.ts';
import { fixture, repoRoot } from '../helpers/fixtures.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run -s imagine -- inspect ...` without npm: imagine.ts dispatches to inspect.ts (which also runs alone). */
const IMAGINE = path.join(repoRoot, 'src/cli/imagine.ts');
const ENTRY = fs.existsSync(IMAGINE) ? [IMAGINE, 'inspect'] : [path.join(repoRoot, 'src/cli/inspect.ts')];

function inspect(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ...ENTRY, ...args], { cwd: repoRoot, maxBuffer: 1 << 24, env: { ...process.env, REVERIE_DEBUG: '' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the jobs two at a time (the CI machine has two cores). */
async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

const F = (...p: string[]) => fixture(...p);
const ref = (name: string): NpyArray => readNpy(F('cases', name));
const cases = JSON.parse(fs.readFileSync(F('cases', 'cases.json'), 'utf8')) as { prompts: string[]; loss: number };
const CLIPS = ['clip-openai', 'clip-hf'] as const;

let tmp: string;
const runs = new Map<string, Result>();
const out = (key: string) => path.join(tmp, `${key}.npy`);

function expectClose(key: string, refName: string): void {
  const r = runs.get(key)!;
  expect(r.stderr, key).toBe('');
  expect(r.code, key).toBe(0);
  const a = readNpy(out(key));
  const b = ref(refName);
  expect(a.dtype).toBe('float32');
  expect(a.shape).toEqual(b.shape);
  const { err, bound } = maxAbsError(a.data as Float32Array, b.data as Float32Array);
  expect(err, `${key}: max|a−b| ${err}`).toBeLessThanOrEqual(bound);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-inspect-'));
  const jobs: [string, string[]][] = [];
  for (const c of CLIPS) {
    jobs.push([`tokens-${c}`, ['tokens', '--clip', F(c), '--out', out(`tokens-${c}`), ...cases.prompts]]);
    jobs.push([`text-${c}`, ['text', '--clip', F(c), '--out', out(`text-${c}`), ...cases.prompts]]);
    jobs.push([`image-${c}`, ['image', '--clip', F(c), '--image', F('cases', 'image.npy'), '--out', out(`image-${c}`)]]);
    jobs.push([`grad-${c}`, ['grad', '--clip', F(c), '--vqgan', F('vqgan'), '--z', F('cases', 'z.npy'), '--text', cases.prompts[0]!, '--out', out(`grad-${c}`)]]);
  }
  jobs.push(['decode', ['decode', '--vqgan', F('vqgan'), '--z', F('cases', 'z.npy'), '--out', out('decode')]]);
  jobs.push(['decode-q', ['decode', '--vqgan', F('vqgan'), '--z', F('cases', 'z.npy'), '--quantize', '--out', out('decode-q')]]);
  jobs.push(['encode', ['encode', '--vqgan', F('vqgan'), '--image', F('cases', 'encode_input.npy'), '--out', out('encode')]]);
  jobs.push(['encode-q', ['encode', '--vqgan', F('vqgan'), '--image', F('cases', 'encode_input.npy'), '--quantize', '--out', out('encode-q')]]);
  const results = await inPairs(jobs.map(([, args]) => () => inspect(args)));
  jobs.forEach(([key], i) => runs.set(key, results[i]!));
}, 300_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each(CLIPS)('inspect with %s', (c) => {
  it('tokens: int64 [6,77], exactly the official ids, with a warning for the long prompt', () => {
    const r = runs.get(`tokens-${c}`)!;
    expect(r.code).toBe(0);
    const warnings = r.stderr.trim().split('\n');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: prompt 6 .*longer than 77 tokens and was truncated$/);
    const a = readNpy(out(`tokens-${c}`));
    const b = ref('tokens.npy');
    expect(a.dtype).toBe('int64');
    expect(a.shape).toEqual([6, 77]);
    expect([...(a.data as BigInt64Array)]).toEqual([...(b.data as BigInt64Array)]);
    // .npy output is byte-identical to what numpy writes for the same array
    expect(fs.readFileSync(out(`tokens-${c}`)).equals(fs.readFileSync(F('cases', 'tokens.npy')))).toBe(true);
  });

  it('text: encode_text [6,32] within 1e-4·max(1,max|ref|)', () => {
    const r = runs.get(`text-${c}`)!;
    expect(r.stderr).toMatch(/^warning: prompt 6 /);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('float32 [6,32]');
    const a = readNpy(out(`text-${c}`));
    const { err, bound } = maxAbsError(a.data as Float32Array, ref('text_embed.npy').data as Float32Array);
    expect(a.shape).toEqual([6, 32]);
    expect(err).toBeLessThanOrEqual(bound);
  });

  it('image: encode_image of the CLIP-normalised image [2,32]', () => expectClose(`image-${c}`, 'image_embed.npy'));

  it('grad: d loss/d z with cosine ≥ 0.9999, relative L2 ≤ 1e-3, and the loss within 1e-4', () => {
    const r = runs.get(`grad-${c}`)!;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^loss (\S+)$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(Math.abs(Number(m![1]) - cases.loss)).toBeLessThanOrEqual(1e-4);
    const a = readNpy(out(`grad-${c}`));
    expect(a.shape).toEqual([1, 16, 16, 16]);
    const { cosine, relL2 } = gradientAgreement(a.data as Float32Array, ref('grad_z.npy').data as Float32Array);
    expect(cosine).toBeGreaterThanOrEqual(0.9999);
    expect(relL2).toBeLessThanOrEqual(1e-3);
  });
});

describe('inspect with the VQGAN', () => {
  it('decode: raw decoder output of z', () => expectClose('decode', 'decode.npy'));
  it('decode --quantize: after the codebook snap', () => expectClose('decode-q', 'decode_quantized.npy'));
  it('encode: quant_conv(encoder(2x−1))', () => expectClose('encode', 'encode_prequant.npy'));
  it('encode --quantize: its codebook snap', () => expectClose('encode-q', 'encode_quantized.npy'));
});

describe('inspect errors: one line on stderr, exit 2 for usage and 1 for runtime errors', () => {
  type Case = [name: string, args: () => string[], code: number, pattern: RegExp];
  const cases: Case[] = [
    ['missing --out', () => ['text', '--clip', F('clip-openai'), 'a prompt'], 2, /^inspect text: missing --out FILE$/],
    ['unknown subcommand', () => ['imagee', '--clip', F('clip-openai')], 2, /^inspect: unknown subcommand "imagee": expected one of tokens, text, image, decode, encode, grad, siren, mel, whisper-encode, whisper-logits, whisper-tokens, transcribe, biggan, bigsleep$/],
    ['unknown option', () => ['decode', '--vqgan', F('vqgan'), '--z', 'z.npy', '--qantize', '--out', 'y.npy'], 2, /^inspect decode: unknown option --qantize \(did you mean --quantize\?\)$/],
    ['no prompt', () => ['tokens', '--clip', F('clip-openai'), '--out', 't.npy'], 2, /^inspect tokens: missing prompt$/],
    [
      'wrong image shape',
      () => ['image', '--clip', F('clip-hf'), '--image', path.join(tmp, 'image-32.npy'), '--out', path.join(tmp, 'never.npy')],
      1,
      /^inspect image: .*image-32\.npy: image has shape \[1,3,32,32\], expected \[N,3,64,64\] /,
    ],
    [
      'wrong latent dtype',
      () => ['decode', '--vqgan', F('vqgan'), '--z', F('cases', 'tokens.npy'), '--out', path.join(tmp, 'never.npy')],
      1,
      /^inspect decode: .*tokens\.npy: latent has dtype int64, expected float32/,
    ],
    [
      'wrong latent channels',
      () => ['grad', '--clip', F('clip-openai'), '--vqgan', F('vqgan'), '--z', F('cases', 'image.npy'), '--text', 'x', '--out', path.join(tmp, 'never.npy')],
      1,
      /^inspect grad: .*image\.npy: latent has shape \[2,3,64,64\], expected \[B,16,h,w\]/,
    ],
    ['missing input file', () => ['encode', '--vqgan', F('vqgan'), '--image', path.join(tmp, 'nothing.npy'), '--out', path.join(tmp, 'never.npy')], 1, /^inspect encode: image file not found: /],
    ['missing weight', () => ['text', '--clip', path.join(tmp, 'clip-missing-key'), '--out', path.join(tmp, 'never.npy'), 'x'], 1, /^inspect text: .*open_clip_model\.safetensors: missing weight "ln_final\.bias"$/],
    ['missing CLIP folder', () => ['text', '--clip', path.join(tmp, 'no-clip'), '--out', path.join(tmp, 'never.npy'), 'x'], 1, /^inspect text: CLIP model folder not found: .*no-clip$/],
  ];

  beforeAll(async () => {
    writeNpy(path.join(tmp, 'image-32.npy'), { dtype: 'float32', shape: [1, 3, 32, 32], data: new Float32Array(3 * 32 * 32).fill(0.5) });
    // the fixture's OpenAI-named CLIP, re-saved without ln_final.bias
    const dir = path.join(tmp, 'clip-missing-key');
    fs.mkdirSync(dir);
    for (const f of ['vocab.json', 'merges.txt']) fs.copyFileSync(F('clip-openai', f), path.join(dir, f));
    const w = await openWeights(F('clip-openai', 'open_clip_model.safetensors'));
    const header: Record<string, unknown> = {};
    const parts: Uint8Array[] = [];
    let offset = 0;
    for (const [name, info] of w.tensors) {
      if (name === 'ln_final.bias') continue;
      const raw = w.raw(name);
      header[name] = { dtype: info.dtype === 'float32' ? 'F32' : info.dtype === 'int64' ? 'I64' : 'F16', shape: info.shape, data_offsets: [offset, offset + raw.length] };
      parts.push(raw);
      offset += raw.length;
    }
    w.close();
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeFileSync(path.join(dir, 'open_clip_model.safetensors'), Buffer.concat([len, json, ...parts]));
  });

  it('--help lists the subcommands (in process)', async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), warn: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
    expect(await inspectMain(['--help'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/inspect grad --clip DIR --vqgan DIR --z z\.npy --text "prompt" --out g\.npy/);
    expect(await inspectMain(['encode', '--help'], io)).toBe(0);
    expect(lines.join('\n')).toMatch(/--quantize\s+snap the latent/);
  });

  it.each(cases.map((c) => [c[0], c] as const))('%s (in process)', async (_name, [, args, code, pattern]) => {
    const lines: string[] = [];
    const got = await inspectMain(args(), { out: (l) => lines.push(`out ${l}`), warn: (l) => lines.push(`warn ${l}`), error: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(got).toBe(code);
    expect(fs.existsSync(path.join(tmp, 'never.npy'))).toBe(false);
  });

  it('as a process: a missing VQGAN folder gives one line, exit code 1, no stack trace', async () => {
    const r = await inspect(['decode', '--vqgan', path.join(tmp, 'no-such-vqgan'), '--z', F('cases', 'z.npy'), '--out', path.join(tmp, 'never.npy')]);
    expect(r.stderr).toMatch(/^inspect decode: VQGAN model folder not found: \S+no-such-vqgan\n$/);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
  });

  it('as a process: a usage error gives exit code 2', async () => {
    const r = await inspect(['image', '--clip', F('clip-hf'), '--out']);
    expect(r.stderr).toBe('inspect image: --out needs a value (FILE)\n');
    expect(r.code).toBe(2);
  });
});
