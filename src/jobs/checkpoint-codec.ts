/**
 * Binary checkpoint file: "RVCK", u32 version, u32 header length, JSON header, zero padding to 4 bytes,
 * then the float32 tensors (little-endian) in header order: z first, then optimiser tensors.
 * Integrity is checked by the store (size + sha256 recorded with the file); decode() also validates shape.
 */
import type { Checkpoint } from './types.ts';

const MAGIC = Buffer.from('RVCK', 'ascii');
const VERSION = 1;

interface Header {
  step: number;
  zShape: number[];
  zLength: number;
  optimiser: { name: string; scalars: Record<string, number>; tensors: { key: string; length: number }[] };
  rng: number[];
  extra?: Record<string, unknown>;
}

const f32bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function encodeCheckpoint(c: Checkpoint): Buffer {
  const scalars: Record<string, number> = {};
  const tensors: { key: string; data: Float32Array }[] = [];
  for (const [key, v] of Object.entries(c.optimiser.state)) {
    if (typeof v === 'number') scalars[key] = v;
    else tensors.push({ key, data: v });
  }
  const header: Header = {
    step: c.step,
    zShape: c.zShape,
    zLength: c.z.length,
    optimiser: { name: c.optimiser.name, scalars, tensors: tensors.map((t) => ({ key: t.key, length: t.data.length })) },
    rng: c.rng,
    ...(c.extra ? { extra: c.extra } : {}),
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - ((12 + json.length) % 4)) % 4;
  const head = Buffer.alloc(12);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(VERSION, 4);
  head.writeUInt32LE(json.length, 8);
  return Buffer.concat([head, json, Buffer.alloc(pad), f32bytes(c.z), ...tensors.map((t) => f32bytes(t.data))]);
}

export function decodeCheckpoint(buf: Buffer): Checkpoint {
  if (buf.length < 12 || !buf.subarray(0, 4).equals(MAGIC)) throw new Error('bad magic');
  const version = buf.readUInt32LE(4);
  if (version !== VERSION) throw new Error(`unknown version ${version}`);
  const jsonLen = buf.readUInt32LE(8);
  if (12 + jsonLen > buf.length) throw new Error('truncated header');
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(12, 12 + jsonLen).toString('utf8')) as Header;
  } catch {
    throw new Error('unreadable header');
  }
  let off = 12 + jsonLen;
  off += (4 - (off % 4)) % 4;
  const take = (n: number): Float32Array => {
    if (!Number.isInteger(n) || n < 0 || off + n * 4 > buf.length) throw new Error('truncated tensor data');
    const out = new Float32Array(n);
    f32bytes(out).set(buf.subarray(off, off + n * 4));
    off += n * 4;
    return out;
  };
  const z = take(header.zLength);
  if (header.zShape.reduce((a, b) => a * b, 1) !== z.length) throw new Error('z shape does not match its data');
  const state: Record<string, Float32Array | number> = { ...header.optimiser.scalars };
  for (const t of header.optimiser.tensors) state[t.key] = take(t.length);
  if (off !== buf.length) throw new Error('trailing bytes');
  return {
    step: header.step,
    z,
    zShape: header.zShape,
    optimiser: { name: header.optimiser.name, state },
    rng: header.rng,
    ...(header.extra ? { extra: header.extra } : {}),
  };
}
