/** What the inspect subcommands share: their I/O, command shape, and reading/writing .npy files. */
import fs from 'node:fs';
import path from 'node:path';
import { Session, parseDevice, serialize, type Device, type Graph, type HostArray } from '../engine/graph/index.ts';
import { readNpy, writeNpy, type NpyArray } from '../engine/npy.ts';
import { CliError, UsageError, type OptionSpecs, type ParsedOptions } from './args.ts';

/** Where the CLI writes: result lines (stdout), warnings and the one-line error (stderr). */
export interface InspectIo {
  out: (line: string) => void;
  warn: (line: string) => void;
  error: (line: string) => void;
}

export interface Command<S extends OptionSpecs> {
  summary: string;
  usage: string;
  spec: S;
  positionals?: { min?: number; max?: number; name?: string };
  run(o: ParsedOptions<S>, positionals: string[], io: InspectIo): Promise<void>;
}

export const command = <const S extends OptionSpecs>(c: Command<S>): Command<S> => c;

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function deviceOf(s: string | undefined): Device {
  if (s === undefined) return 'cpu';
  try {
    return parseDevice(s);
  } catch (err) {
    throw new UsageError(`--device: ${(err as Error).message}`);
  }
}

export function folder(dir: string, what: string): string {
  if (!fs.existsSync(dir)) throw new CliError(`${what} model folder not found: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new CliError(`${what} model path is not a folder: ${dir}`);
  return dir;
}
/** A float array from a .npy file (float64/float16 are converted to float32; anything else is refused). */
export function readArray(file: string, what: string): { shape: number[]; data: Float32Array } {
  if (!fs.existsSync(file)) throw new CliError(`${what} file not found: ${file}`);
  let a: NpyArray;
  try {
    a = readNpy(file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (a.dtype !== 'float32' && a.dtype !== 'float64' && a.dtype !== 'float16') {
    throw new CliError(`${file}: ${what} has dtype ${a.dtype}, expected float32 (float64 and float16 are converted)`);
  }
  const data = a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as Float64Array);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) throw new CliError(`${file}: ${what} has a non-finite value (${data[i]}) at flat index ${i}`);
  }
  return { shape: a.shape, data };
}

export async function run(g: Graph, feeds: Record<string, HostArray>, device: Device): Promise<Record<string, HostArray>> {
  const session = await Session.create(serialize(g), { device });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

export function save(file: string, arr: { dtype: 'float32' | 'int64'; shape: readonly number[]; data: Float32Array | BigInt64Array }, io: InspectIo): void {
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new CliError(`cannot write ${file}: folder ${dir} does not exist`);
  try {
    writeNpy(file, arr);
  } catch (err) {
    throw new CliError(`cannot write ${file}: ${(err as Error).message}`);
  }
  io.out(`${file}: ${arr.dtype} ${fmtShape(arr.shape)}`);
}

