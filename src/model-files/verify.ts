/**
 * Opening a pulled file and checking that it is what the engine expects: tensor names and shapes for
 * weights (through the engine's own reader, src/engine/weights), completeness of safetensors and torch
 * zip containers, and sanity of the JSON / text side files.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { ExpectedTensor } from '../engine/models/expected.ts';
import { listTensors } from '../engine/weights/index.ts';
import type { FileCheck } from './layout.ts';

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
}

/** The signature of `listTensors` in src/engine/weights/index.ts (safetensors and torch zip); injectable for tests. */
export type ListTensors = (path: string) => Promise<Map<string, TensorInfo>>;

/** The engine's reader (safetensors and torch zip), typed as the narrower ListTensors. */
export const engineListTensors: ListTensors = (file) => listTensors(file);

const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8,
  FLOAT16: 2, HALF: 2, BFLOAT16: 2, FLOAT32: 4, FLOAT: 4, FLOAT64: 8, DOUBLE: 8,
};
const FLOAT_DTYPES = /^(F16|BF16|F32|F64|float16|bfloat16|float32|float64|float|half|double|Float|Half|BFloat16|Double)$/i;

function elements(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function readRange(file: string, start: number, length: number): Promise<Buffer> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, start);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

interface SafetensorsHeader {
  headerBytes: number;
  dataEnd: number;
  tensors: Map<string, TensorInfo>;
}

/** Reads a safetensors header; undefined if the file does not look like safetensors. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader | undefined> {
  const head = await readRange(file, 0, 9);
  if (head.length < 9) return undefined;
  const n = Number(head.readBigUInt64LE(0));
  if (head[8] !== 0x7b /* { */ || n < 2 || n > 100_000_000) return undefined;
  const raw = await readRange(file, 8, n);
  if (raw.length < n) throw new Error(`truncated: the safetensors header alone needs ${n + 8} bytes`);
  let hdr: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    hdr = JSON.parse(raw.toString('utf8')) as typeof hdr;
  } catch {
    throw new Error('the safetensors header is not valid JSON');
  }
  const tensors = new Map<string, TensorInfo>();
  let dataEnd = 0;
  for (const [name, t] of Object.entries(hdr)) {
    if (name === '__metadata__') continue;
    tensors.set(name, { name, dtype: t.dtype, shape: t.shape });
    dataEnd = Math.max(dataEnd, t.data_offsets?.[1] ?? 0);
  }
  return { headerBytes: 8 + n, dataEnd, tensors };
}

/** A torch.save zip ends with an end-of-central-directory record; a cut file has none. */
async function zipLooksComplete(file: string, size: number): Promise<boolean> {
  const tail = Math.min(size, 65_557);
  const buf = await readRange(file, size - tail, tail);
  for (let i = buf.length - 22; i >= 0; i--) {
    if (buf[i] === 0x50 && buf[i + 1] === 0x4b && buf[i + 2] === 0x05 && buf[i + 3] === 0x06) return true;
  }
  return false;
}

export interface CheckResult {
  ok: boolean;
  /** One-line summary of what is wrong (empty when ok). */
  problem: string;
  /** Every problem found, for details. */
  details: string[];
  /** Set when the file could not be fully checked (reader missing), but nothing wrong was seen. */
  warning?: string;
}

const ok = (warning?: string): CheckResult => ({ ok: true, problem: '', details: [], ...(warning ? { warning } : {}) });
const bad = (details: string[], summary?: string): CheckResult => ({ ok: false, problem: summary ?? details[0] ?? 'unknown problem', details });

function looksLikeHtml(head: Buffer): boolean {
  const s = head.toString('utf8', 0, Math.min(head.length, 512)).trimStart().toLowerCase();
  return s.startsWith('<!doctype html') || s.startsWith('<html') || s.startsWith('<head') || s.startsWith('<?xml');
}

const fmtShape = (s: number[]) => `[${s.join(', ')}]`;

/** Compares what a file holds with what is expected. Extra tensors are fine; state_dict. prefixes are ignored. */
export function compareTensors(found: Map<string, TensorInfo>, expected: ExpectedTensor[]): string[] {
  const byName = new Map<string, TensorInfo>();
  for (const [k, t] of found) {
    byName.set(k, t);
    if (k.startsWith('state_dict.') && !found.has(k.slice(11))) byName.set(k.slice(11), t);
  }
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const e of expected) {
    const t = byName.get(e.name);
    if (!t) missing.push(e.name);
    else if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) wrong.push(`${e.name} has shape ${fmtShape(t.shape)}, expected ${fmtShape(e.shape)}`);
    else if (t.dtype && !FLOAT_DTYPES.test(t.dtype)) wrong.push(`${e.name} has dtype ${t.dtype}, expected a float type`);
  }
  const out: string[] = [];
  if (missing.length === expected.length && expected.length > 0) {
    const others = [...found.keys()].slice(0, 3).map((k) => `"${k}"`).join(', ');
    out.push(`none of the ${expected.length} expected tensors is there (it holds ${found.size} others${others ? `, e.g. ${others}` : ''}): wrong file`);
    return out;
  }
  if (missing.length) out.push(`${missing.length} expected tensor${missing.length > 1 ? 's are' : ' is'} missing (e.g. ${missing.slice(0, 3).join(', ')})`);
  out.push(...wrong);
  return out;
}

export interface CheckOptions {
  /** Injected reader; default: the engine's listTensors. */
  listTensors?: ListTensors;
  /** Exact size in bytes, when known. */
  bytes?: number;
}

/** Checks one file on disk against its FileCheck. Never throws for a bad file: returns the problem. */
export async function checkFile(file: string, check: FileCheck, opts: CheckOptions = {}): Promise<CheckResult> {
  let size: number;
  try {
    size = (await fsp.stat(file)).size;
  } catch {
    return bad([`not found: ${file}`]);
  }
  if (size === 0) return bad(['the file is empty']);
  if (opts.bytes !== undefined && size !== opts.bytes) return bad([`size is ${size} bytes, expected ${opts.bytes}`]);
  const head = await readRange(file, 0, 512);
  if (looksLikeHtml(head)) return bad(['got a web page instead of the file (the download link may have moved or needs a login)']);

  if (check.kind === 'digest') return ok();

  if (check.kind === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(await fsp.readFile(file, 'utf8'));
    } catch {
      return bad(['not valid JSON (truncated or wrong file)']);
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) return bad(['expected a JSON object']);
    const missing = (check.requiredKeys ?? []).filter((k) => !(k in (value as object)));
    return missing.length ? bad([`JSON lacks ${missing.map((k) => `"${k}"`).join(', ')}: wrong file`]) : ok();
  }

  if (check.kind === 'text') {
    const text = await fsp.readFile(file, 'utf8');
    const d: string[] = [];
    if (check.minBytes !== undefined && size < check.minBytes) d.push(`only ${size} bytes, expected at least ${check.minBytes} (truncated?)`);
    if (check.startsWith !== undefined && !text.startsWith(check.startsWith)) d.push(`does not start with "${check.startsWith}": wrong file`);
    for (const c of check.contains ?? []) if (!text.includes(c)) d.push(`does not mention "${c}": wrong file`);
    return d.length ? bad(d) : ok();
  }

  // tensors
  const d: string[] = [];
  try {
    const st = await readSafetensorsHeader(file);
    if (st) {
      const want = st.headerBytes + st.dataEnd;
      if (size < want) return bad([`truncated: the header describes ${want} bytes, the file has ${size}`]);
      if (size > want) return bad([`${size - want} unexpected bytes after the tensor data (corrupt file)`]);
    } else if (head[0] === 0x50 && head[1] === 0x4b) {
      if (!(await zipLooksComplete(file, size))) return bad(['truncated: the zip archive has no end record']);
    }
  } catch (err) {
    return bad([(err as Error).message]);
  }

  let found: Map<string, TensorInfo>;
  try {
    found = await (opts.listTensors ?? engineListTensors)(file);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!.replace(`${file}: `, '');
    return bad([`cannot be read as weights: ${msg}`]);
  }
  d.push(...compareTensors(found, check.expected));
  if (d.length === 0) {
    let need = 0;
    for (const e of check.expected) {
      const t = found.get(e.name) ?? found.get(`state_dict.${e.name}`);
      need += elements(e.shape) * (DTYPE_BYTES[t?.dtype?.toUpperCase() ?? ''] ?? 0);
    }
    if (need > size) d.push(`truncated: the expected tensors need ${need} bytes, the file has ${size}`);
  }
  return d.length ? bad(d, d.length > 1 ? `${d[0]} (and ${d.length - 1} more problem${d.length > 2 ? 's' : ''})` : d[0]) : ok();
}

/** Moves a bad file aside as `<name>.rejected` (replacing an older one), so it is never taken as valid. */
export function moveAside(file: string): string {
  const to = `${file}.rejected`;
  try {
    fs.rmSync(to, { force: true });
  } catch {
    /* ignore */
  }
  fs.renameSync(file, to);
  return to;
}
