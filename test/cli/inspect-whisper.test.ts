/**
 * The Whisper inspect subcommands as users run them (a child process each) against whisper-micro, the
 * official code's outputs: mel, whisper-encode, whisper-logits, whisper-tokens and transcribe.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '../../src/engine/npy.ts';
import { maxAbsError } from '../helpers/compare.ts';
import { repoRoot, whisperFixture, whisperRankFile } from '../helpers/fixtures.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function inspect(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const entry = path.join(repoRoot, 'src/cli/imagine.ts');
    execFile(process.execPath, ['--import', 'tsx', entry, 'inspect', ...args], { cwd: repoRoot, maxBuffer: 1 << 24, env: { ...process.env, REVERIE_DEBUG: '' } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const F = (...p: string[]) => whisperFixture(...p);
const PT = F('whisper', 'micro.pt');
const rankFile = whisperRankFile();
const cases = JSON.parse(fs.readFileSync(F('cases', 'cases.json'), 'utf8')) as {
  greedy: { tokens: number[]; text: string; avg_logprob: number };
  tokenizer: { encode: Record<string, number[]> };
};

let tmp: string;
const out = (name: string) => path.join(tmp, name);

function expectNpyClose(file: string, refName: string): void {
  const a = readNpy(file);
  const b = readNpy(F('cases', refName));
  expect(a.dtype).toBe('float32');
  expect(a.shape).toEqual(b.shape);
  const { err, bound } = maxAbsError(a.data as Float32Array, b.data as Float32Array);
  expect(err, `${refName}: max|a−b| ${err}`).toBeLessThanOrEqual(bound);
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-inspect-whisper-'));
});
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('inspect (Whisper)', () => {
  it('mel → whisper-encode → whisper-logits match the official mel, encoder output and logits', async () => {
    const mel = await inspect(['mel', '--audio', F('cases', 'pcm16k.npy'), '--out', out('mel.npy')]);
    expect(mel.stderr).toBe('');
    expect(mel.code).toBe(0);
    expect(mel.stdout).toContain('float32 [80,3000]');
    expectNpyClose(out('mel.npy'), 'mel.npy');
    const [enc, logits] = await Promise.all([
      inspect(['whisper-encode', '--whisper', PT, '--mel', out('mel.npy'), '--out', out('enc.npy')]),
      inspect(['whisper-logits', '--whisper', PT, '--mel', F('cases', 'mel.npy'), '--tokens', F('cases', 'decoder_prompt.npy'), '--out', out('logits.npy')]),
    ]);
    expect(enc.stderr + logits.stderr).toBe('');
    expect([enc.code, logits.code]).toEqual([0, 0]);
    expectNpyClose(out('enc.npy'), 'encoder_out.npy');
    expectNpyClose(out('logits.npy'), 'decoder_logits.npy');
  });

  it('explains bad inputs in one line', async () => {
    writeNpy(out('bad-mel.npy'), { dtype: 'float32', shape: [80, 100], data: new Float32Array(8000) });
    writeNpy(out('bad-tokens.npy'), { dtype: 'int64', shape: [2], data: BigInt64Array.of(1n, 99999n) });
    const [shape, tokens, missing, usage] = await Promise.all([
      inspect(['whisper-encode', '--whisper', PT, '--mel', out('bad-mel.npy'), '--out', out('x.npy')]),
      inspect(['whisper-logits', '--whisper', PT, '--mel', F('cases', 'mel.npy'), '--tokens', out('bad-tokens.npy'), '--out', out('x.npy')]),
      inspect(['whisper-encode', '--whisper', out('none.pt'), '--mel', F('cases', 'mel.npy'), '--out', out('x.npy')]),
      inspect(['mel', '--out', out('x.npy')]),
    ]);
    expect(shape.code).toBe(1);
    expect(shape.stderr).toMatch(/^inspect whisper-encode: .*mel has shape \[80,100\], expected \[80,3000\]/);
    expect(tokens.code).toBe(1);
    expect(tokens.stderr).toMatch(/token 1 is 99999, outside the vocabulary \[0, 51865\)/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/Whisper checkpoint not found/);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(!rankFile)('whisper-tokens and transcribe --json give exactly the official ids and greedy result', async () => {
    const texts = Object.keys(cases.tokenizer.encode);
    const [tokens, tr] = await Promise.all([
      inspect(['whisper-tokens', '--vocab', rankFile!, '--out', out('ids.json'), '--', ...texts]),
      inspect(['transcribe', '--whisper', PT, '--vocab', rankFile!, '--audio', F('cases', 'pcm16k.npy'), '--max-tokens', '24', '--json']),
    ]);
    expect(tokens.stderr).toBe('');
    expect(tokens.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(out('ids.json'), 'utf8'))).toEqual(Object.values(cases.tokenizer.encode));
    expect(tr.stderr).toBe('');
    expect(tr.code).toBe(0);
    const r = JSON.parse(tr.stdout) as { tokens: number[]; text: string; avg_logprob: number };
    expect(r.tokens).toEqual(cases.greedy.tokens);
    expect(r.text).toBe(cases.greedy.text);
    expect(Math.abs(r.avg_logprob - cases.greedy.avg_logprob)).toBeLessThan(1e-4);
  });

  it('says where to put the rank file when there is none', async () => {
    const r = await inspect(['whisper-tokens', '--vocab', out('none.tiktoken'), '--out', out('ids.json'), 'hello']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rank file not found/);
  });
});
