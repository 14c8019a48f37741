import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../../src/engine/weights/dtype.ts';
import { listTensors, openWeights } from '../../../src/engine/weights/index.ts';
import { fixture } from '../../helpers/fixtures.ts';
import { writeSafetensors, type StTensor } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'st-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const save = (bytes: Uint8Array, name = `f${n++}.safetensors`) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
};

const bfVals = [1.5, -3, 2 ** -100];
const tensors: StTensor[] = [
  { name: 'f32', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2, 3.5, 1e-30]) },
  { name: 'f16', dtype: 'F16', shape: [3], data: f32ToF16([0.5, -65504, 2 ** -24]) },
  { name: 'bf16', dtype: 'BF16', shape: [3], data: new Uint16Array(new Uint32Array(Float32Array.from(bfVals).buffer).map((x) => x >>> 16)) },
  { name: 'f64', dtype: 'F64', shape: [2], data: new Float64Array([0.1, -7]) },
  { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([4.605]) },
  { name: 'i64', dtype: 'I64', shape: [1, 3], data: new BigInt64Array([0n, -5n, 2n ** 40n]) },
  { name: 'i32', dtype: 'I32', shape: [2], data: new Int32Array([-1, 77]) },
  { name: 'i8', dtype: 'I8', shape: [2], data: new Int8Array([-3, 3]) },
  { name: 'u8', dtype: 'U8', shape: [2], data: new Uint8Array([250, 1]) },
  { name: 'bool', dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
  { name: 'unaligned.f32', dtype: 'F32', shape: [2], data: new Float32Array([8, 9]) },
  { name: 'zero', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
];

describe('safetensors reader', () => {
  it('reads every dtype, __metadata__, 0-dim and empty tensors', async () => {
    const p = save(writeSafetensors(tensors, { format: 'pt' }));
    const wf = await openWeights(p);
    expect(wf.format).toBe('safetensors');
    expect(wf.meta).toEqual({ format: 'pt' });
    expect([...wf.tensors.values()].map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['f32', 'float32', [2, 2]], ['f16', 'float16', [3]], ['bf16', 'bfloat16', [3]], ['f64', 'float64', [2]], ['scalar', 'float32', []],
      ['i64', 'int64', [1, 3]], ['i32', 'int32', [2]], ['i8', 'int8', [2]], ['u8', 'uint8', [2]], ['bool', 'bool', [2]],
      ['unaligned.f32', 'float32', [2]], ['zero', 'float32', [0, 4]],
    ]);
    expect([...wf.float32('f32')]).toEqual([1, -2, 3.5, Math.fround(1e-30)]);
    expect([...wf.float32('f16')]).toEqual([0.5, -65504, 2 ** -24]);
    expect([...wf.float32('bf16')]).toEqual(bfVals);
    expect([...wf.float32('f64')]).toEqual([Math.fround(0.1), -7]);
    expect([...wf.float32('scalar')]).toEqual([Math.fround(4.605)]);
    expect([...wf.int64('i64')]).toEqual([0n, -5n, 2n ** 40n]);
    expect([...wf.int64('i32')]).toEqual([-1n, 77n]);
    expect([...wf.float32('i8')]).toEqual([-3, 3]);
    expect([...wf.int64('u8')]).toEqual([250n, 1n]);
    expect([...wf.int64('bool')]).toEqual([1n, 0n]);
    expect([...wf.float32('unaligned.f32')]).toEqual([8, 9]);
    expect(wf.float32('zero').length).toBe(0);
    expect(() => wf.int64('f32')).toThrow(`${p}: tensor 'f32' is float32, not an integer tensor: use float32()`);
    expect(() => wf.float32('nope')).toThrow(`${p}: no tensor named 'nope'`);
    wf.close();
    expect((await listTensors(p)).get('i64')).toEqual({ name: 'i64', dtype: 'int64', shape: [1, 3] });
  });

  it('gives clear errors for truncated and malformed files', async () => {
    const good = writeSafetensors(tensors);
    const hlen = 8 + Number(new DataView(good.buffer).getBigUint64(0, true));
    const cut = save(good.subarray(0, good.length - 10), 'cut.safetensors');
    await expect(openWeights(cut)).rejects.toThrow(`${cut}: tensor 'bool' data [84, 86) runs past the end of the file (only 84 data bytes; truncated?)`);
    const cutHeader = save(good.subarray(0, hlen - 5), 'cuthdr.safetensors');
    await expect(openWeights(cutHeader)).rejects.toThrow(/cuthdr\.safetensors: safetensors header needs \d+ bytes but the file has only \d+ after the length \(truncated\?\)/);
    // the real fixture, cut in half: the first tensor past the cut is named
    const real = fs.readFileSync(fixture('clip-openai', 'open_clip_model.safetensors'));
    const halfReal = save(real.subarray(0, real.length >> 1), 'half.safetensors');
    await expect(openWeights(halfReal)).rejects.toThrow(/half\.safetensors: tensor '[\w.]+' data \[\d+, \d+\) runs past the end of the file/);

    const bad = (hdr: unknown) => {
      const h = new TextEncoder().encode(JSON.stringify(hdr));
      const out = new Uint8Array(8 + h.length + 16);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      return save(out);
    };
    await expect(openWeights(bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }))).rejects.toThrow(/tensor 'a' \(float32 \[2\]\) should take 8 bytes but data_offsets \[0, 12\) give 12/);
    await expect(openWeights(bad({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }))).rejects.toThrow(/tensor 'a' has unsupported dtype "C64"/);
    await expect(openWeights(bad({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }))).rejects.toThrow(/tensors 'a' and 'b' overlap/);
    const notJson = new Uint8Array(16);
    new DataView(notJson.buffer).setBigUint64(0, 8n, true);
    notJson.set(new TextEncoder().encode('{"a": ]}'), 8);
    await expect(openWeights(save(notJson))).rejects.toThrow(/safetensors header is not valid JSON/);
  });
});
