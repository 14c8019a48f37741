import { describe, expect, it } from 'vitest';
import { UsageError, CliError, describeError, exitCodeOf, oneLine, parseArgs, formatOptions } from '../../src/cli/args.ts';

const spec = {
  out: { type: 'string', required: true, valueName: 'FILE', short: 'o' },
  steps: { type: 'integer', min: 1, max: 1000 },
  scale: { type: 'number' },
  quantize: { type: 'boolean' },
  text: { type: 'string', multiple: true },
  device: { type: 'string', choices: ['cpu', 'cuda:0'] },
} as const;

const err = (argv: string[], opts = {}) => {
  try {
    parseArgs(argv, spec, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('parseArgs', () => {
  it('reads --name value, --name=value, -x value, flags, repeats and positionals', () => {
    const r = parseArgs(['--out', 'a.npy', '--steps=20', '--quantize', '--text', 'one', '--text=two words', 'p1', '--', '--not-an-option'], spec, {
      positionals: { max: 5 },
    });
    expect(r.values).toEqual({ out: 'a.npy', steps: 20, scale: undefined, quantize: true, text: ['one', 'two words'], device: undefined });
    expect(r.positionals).toEqual(['p1', '--not-an-option']);
    expect(r.help).toBe(false);
    const s = parseArgs(['-o', 'b.npy', '--scale', '-0.5', '-1', '- a sketch'], spec, { positionals: { max: 2 } });
    expect(s.values.out).toBe('b.npy');
    expect(s.values.scale).toBe(-0.5);
    expect(s.positionals).toEqual(['-1', '- a sketch']);
    const typed: string = s.values.out; // required options are not optional in the type
    expect(typed).toBe('b.npy');
  });

  it('reports each mistake in one line', () => {
    expect(err([])).toBe('missing --out FILE');
    expect(err(['--out'])).toBe('--out needs a value (FILE)');
    expect(err(['--out', '--quantize'])).toBe('--out needs a value (FILE)');
    expect(err(['--out', 'a', '--out', 'b'])).toBe('--out was given more than once');
    expect(err(['--out', 'a', '--stepz', '3'])).toBe('unknown option --stepz (did you mean --steps?)');
    expect(err(['--out', 'a', '--steps', '2.5'])).toBe('--steps must be an integer (got "2.5")');
    expect(err(['--out', 'a', '--steps', '0'])).toBe('--steps must be at least 1 (got 0)');
    expect(err(['--out', 'a', '--scale', 'x'])).toBe('--scale must be a number (got "x")');
    expect(err(['--out', 'a', '--quantize=yes'])).toBe('--quantize is a flag and takes no value (got "yes")');
    expect(err(['--out', 'a', '--device', 'gpu'])).toBe('--device must be one of cpu, cuda:0 (got "gpu")');
    expect(err(['--out', 'a', 'extra'])).toBe('unexpected argument "extra"');
    expect(err(['--out', 'a'], { positionals: { min: 1, max: 3, name: 'prompt' } })).toBe('missing prompt');
    expect(err(['--out', 'a', '1', '2'], { positionals: { max: 1, name: 'prompt' } })).toBe('too many prompts: expected at most 1, got 2 (unexpected "2")');
  });

  it('--help skips the required checks', () => {
    expect(parseArgs(['--help'], spec).help).toBe(true);
    expect(parseArgs(['-h'], spec).help).toBe(true);
  });

  it('formats help and errors', () => {
    expect(formatOptions(spec)).toContain('-o, --out FILE');
    expect(oneLine(new Error('a\n  b\r\nc'))).toBe('a b c');
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new CliError('x'))).toBe(1);
    expect(exitCodeOf(new TypeError('x'))).toBe(1);
    expect(describeError('inspect', new CliError('no\nway'))).toEqual({ text: 'inspect: no way', exitCode: 1 });
  });
});
