/**
 * Small, generic command-line parsing for the CLIs: `--name value`, `--name=value`, boolean flags,
 * repeated options, positionals and `--` (everything after it is positional). Every problem is a
 * UsageError with one line of text; `runCli` turns errors into one line on stderr and an exit code
 * (2 for usage errors, 1 for everything else) and never prints a stack trace (unless REVERIE_DEBUG=1).
 */

/** Wrong invocation: unknown option, missing value, bad number... (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode = 2;
}

/** A failure while doing the work: missing file, bad input data... (exit code 1). */
export class CliError extends Error {
  override name = 'CliError';
  readonly exitCode = 1;
}

export type OptionType = 'string' | 'boolean' | 'number' | 'integer';

export interface OptionSpec {
  type: OptionType;
  /** must be given (ignored for booleans) */
  required?: boolean;
  /** may be given several times; the value is then an array, in command-line order */
  multiple?: boolean;
  /** one-letter alias, used as `-x value` */
  short?: string;
  /** allowed values of a string option */
  choices?: readonly string[];
  /** bounds of a number/integer option (inclusive) */
  min?: number;
  max?: number;
  /** placeholder for the value in help text, e.g. DIR */
  valueName?: string;
  help?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type Scalar<S extends OptionSpec> = S['type'] extends 'boolean' ? boolean : S['type'] extends 'string' ? string : number;

/** Parsed values: arrays for `multiple`, booleans always present, required options non-optional. */
export type ParsedOptions<S extends OptionSpecs> = {
  [K in keyof S]: S[K]['multiple'] extends true
    ? Scalar<S[K]>[]
    : S[K]['type'] extends 'boolean'
      ? boolean
      : S[K]['required'] extends true
        ? Scalar<S[K]>
        : Scalar<S[K]> | undefined;
};

export interface ParseOptions {
  /** how many positionals are allowed (default 0..0) */
  positionals?: { min?: number; max?: number; name?: string };
  /** prefix for messages, e.g. "inspect text" */
  command?: string;
}

export interface ParseResult<S extends OptionSpecs> {
  values: ParsedOptions<S>;
  positionals: string[];
  /** -h or --help was given (required options and positional counts are then not checked) */
  help: boolean;
}

export function parseArgs<S extends OptionSpecs>(argv: readonly string[], spec: S, opts: ParseOptions = {}): ParseResult<S> {
  const where = opts.command ? `${opts.command}: ` : '';
  const fail = (msg: string): never => {
    throw new UsageError(`${where}${msg}`);
  };
  const shortToLong = new Map<string, string>();
  for (const [name, s] of Object.entries(spec)) if (s.short) shortToLong.set(s.short, name);

  const raw = new Map<string, string[]>();
  const positionals: string[] = [];
  let help = false;
  let onlyPositionals = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!onlyPositionals && arg === '--') {
      onlyPositionals = true;
      continue;
    }
    // Only `--name[=value]` and `-x[value]` are options: "-1", "- a sketch" or "-" are positionals.
    if (onlyPositionals || !(/^--[A-Za-z][\w-]*(=[\s\S]*)?$/.test(arg) || /^-[A-Za-z]\S*$/.test(arg))) {
      positionals.push(arg);
      continue;
    }
    if ((arg === '-h' || arg === '--help') && !spec.help && !shortToLong.has('h')) {
      help = true;
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
    } else {
      const long = shortToLong.get(arg.slice(1, 2));
      if (!long || (arg.length > 2 && spec[long]!.type === 'boolean')) fail(`unknown option ${arg}${suggest(arg, spec)}`);
      name = long!;
      if (arg.length > 2) inline = arg.slice(2);
    }
    const s = spec[name];
    if (!s) return fail(`unknown option --${name}${suggest(name, spec)}`);
    let value: string;
    if (s.type === 'boolean') {
      if (inline === undefined) value = 'true';
      else if (inline === 'true' || inline === 'false') value = inline;
      else return fail(`--${name} is a flag and takes no value (got "${inline}")`);
    } else if (inline !== undefined) {
      value = inline;
    } else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) return fail(`--${name} needs a value${s.valueName ? ` (${s.valueName})` : ''}`);
      value = next;
      i++;
    }
    const list = raw.get(name) ?? [];
    if (list.length && !s.multiple && s.type !== 'boolean') fail(`--${name} was given more than once`);
    list.push(value);
    raw.set(name, list);
  }

  const values: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(spec)) {
    const given = raw.get(name) ?? [];
    if (s.type === 'boolean') {
      values[name] = s.multiple ? given.map((v) => v === 'true') : given.length ? given[given.length - 1] === 'true' : false;
      continue;
    }
    if (!given.length && s.required && !help) fail(`missing --${name}${s.valueName ? ` ${s.valueName}` : ''}`);
    const parsed = given.map((v) => convert(name, s, v, fail));
    values[name] = s.multiple ? parsed : parsed[0];
  }

  const p = opts.positionals ?? {};
  const min = p.min ?? 0;
  const max = p.max ?? 0;
  const what = p.name ?? 'argument';
  if (!help) {
    if (positionals.length < min) fail(min === 1 ? `missing ${what}` : `expected at least ${min} ${what}s, got ${positionals.length}`);
    if (positionals.length > max) {
      fail(max === 0 ? `unexpected argument "${positionals[0]}"` : `too many ${what}s: expected at most ${max}, got ${positionals.length} (unexpected "${positionals[max]}")`);
    }
  }
  return { values: values as ParsedOptions<S>, positionals, help };
}

function convert(name: string, s: OptionSpec, v: string, fail: (m: string) => never): string | number {
  if (s.type === 'string') {
    if (s.choices && !s.choices.includes(v)) fail(`--${name} must be one of ${s.choices.join(', ')} (got "${v}")`);
    return v;
  }
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (s.type === 'integer' && !Number.isInteger(n))) fail(`--${name} must be ${s.type === 'integer' ? 'an integer' : 'a number'} (got "${v}")`);
  if (s.min !== undefined && n < s.min) fail(`--${name} must be at least ${s.min} (got ${v})`);
  if (s.max !== undefined && n > s.max) fail(`--${name} must be at most ${s.max} (got ${v})`);
  return n;
}

function suggest(name: string, spec: OptionSpecs): string {
  const bare = name.replace(/^-+/, '');
  const best = Object.keys(spec)
    .map((k) => ({ k, d: editDistance(bare, k) }))
    .sort((a, b) => a.d - b.d)[0];
  return best && best.d <= Math.max(1, Math.floor(bare.length / 3)) ? ` (did you mean --${best.k}?)` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** Help lines for the options of a spec: `  --out FILE   where to write`. */
export function formatOptions(spec: OptionSpecs): string {
  const rows = Object.entries(spec).map(([name, s]) => {
    const value = s.type === 'boolean' ? '' : ` ${s.valueName ?? (s.type === 'string' ? 'VALUE' : 'N')}`;
    const flag = `${s.short ? `-${s.short}, ` : ''}--${name}${value}`;
    const notes = [s.help ?? '', s.required ? '(required)' : '', s.multiple ? '(repeatable)' : '', s.choices ? `(${s.choices.join('|')})` : '']
      .filter(Boolean)
      .join(' ');
    return [flag, notes] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, n]) => `  ${f.padEnd(width)}  ${n}`.trimEnd()).join('\n');
}

/** An error as one line of text (newlines and runs of blanks folded). */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message || err.name : String(err);
  return msg.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The exit code an error stands for: its numeric `exitCode` (UsageError 2), else 1. */
export function exitCodeOf(err: unknown): number {
  const c = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof c === 'number' && Number.isInteger(c) && c > 0 ? c : 1;
}

/**
 * What to print for an error: `prefix: message` on one line (plus the stack only with REVERIE_DEBUG=1)
 * and the exit code.
 */
export function describeError(prefix: string, err: unknown): { text: string; exitCode: number } {
  let text = `${prefix}: ${oneLine(err)}`;
  if (process.env.REVERIE_DEBUG === '1' && err instanceof Error && err.stack) text += `\n${err.stack}`;
  return { text, exitCode: exitCodeOf(err) };
}

/** Writes the error (see describeError) to stderr and returns the exit code. */
export function reportError(prefix: string, err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  const { text, exitCode } = describeError(prefix, err);
  stderr.write(`${text}\n`);
  return exitCode;
}

/**
 * Runs an entry point: `main` returns an exit code or throws; a thrown error becomes one line on
 * stderr and exit code 2 (UsageError) or 1. Sets process.exitCode and lets the process end by itself.
 */
export function runCli(prefix: string, main: (argv: string[]) => Promise<number>, argv = process.argv.slice(2)): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(prefix, err);
    },
  );
}
