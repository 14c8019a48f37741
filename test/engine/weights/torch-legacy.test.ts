import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTensors, openWeights } from '../../../src/engine/weights/index.ts';
import { bigganFixture } from '../../helpers/fixtures.ts';
import { PyGlobal, PyObject, PyOrderedDict, PyTensor, torchLegacy, writeSafetensors, type StorageSpec } from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torchlegacy-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const save = (bytes: Uint8Array, name = `f${n++}.bin`) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
};

// legacy persistent ids carry a sixth field: None, or (view_key, offset, size) for a storage view
const s0: StorageSpec = { key: '140230', type: 'FloatStorage', numel: 24, view: null };
const s0view: StorageSpec = { key: '140230', type: 'FloatStorage', numel: 24, view: { key: '140230_v', offset: 10, size: 8 } };
const s1: StorageSpec = { key: '140231', type: 'LongStorage', numel: 3, view: null };
const s2: StorageSpec = { key: '140232', type: 'ShortStorage', numel: 3, view: null };
const f32 = Float32Array.from({ length: 24 }, (_, i) => i / 2);
const i64 = new BigInt64Array([5n, -7n, 2n ** 40n]);

const stateDict = new PyOrderedDict(
  [
    ['a.weight', new PyTensor(s0, 0, [2, 3], [3, 1], true)],
    ['a.t', new PyTensor(s0, 6, [3, 2], [1, 3])], // a transposed view: t[i][j] = f32[6 + i + 3j]
    ['a.view', new PyTensor(s0view, 2, [2, 2], [2, 1])], // elements 12..15 of the root storage
    ['num_batches_tracked', new PyTensor(s1, 0, [3], [1])],
  ],
  new PyOrderedDict([['', new Map([['version', 1]])]]),
);
const storages = { 140230: f32, 140231: i64 };

describe('legacy (non-zip) torch.save reader', () => {
  it('reads a hand-written legacy file: views, strides, offsets, int64', async () => {
    const file = save(torchLegacy(stateDict, storages));
    const wf = await openWeights(file);
    try {
      expect(wf.format).toBe('torch-legacy');
      expect([...wf.tensors.keys()]).toEqual(['a.weight', 'a.t', 'a.view', 'num_batches_tracked']);
      expect(wf.tensors.get('a.t')).toEqual({ name: 'a.t', dtype: 'float32', shape: [3, 2] });
      expect([...wf.float32('a.weight')]).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
      expect([...wf.float32('a.t')]).toEqual([6, 9, 7, 10, 8, 11].map((i) => i / 2));
      expect([...wf.float32('a.view')]).toEqual([12, 13, 14, 15].map((i) => i / 2));
      expect([...wf.int64('num_batches_tracked')]).toEqual([5n, -7n, 2n ** 40n]);
      expect(wf.meta).toBeInstanceOf(Map);
    } finally {
      wf.close();
    }
    expect([...(await listTensors(file)).keys()]).toHaveLength(4);
  });

  it('steps over storages of types it cannot convert, and names them when a tensor needs one', async () => {
    const withShort = new PyOrderedDict([['w', new PyTensor(s0, 0, [4], [1])], ['s', new PyTensor(s2, 0, [3], [1])]]);
    const file = save(torchLegacy(withShort, { 140230: f32, 140232: new Int16Array([1, 2, 3]) }));
    await expect(openWeights(file)).rejects.toThrow(/tensor 's' uses unsupported storage type ShortStorage/);
  });

  it('refuses globals other than torch\'s, without calling anything', async () => {
    const marker = path.join(tmp, 'pwned');
    const evil = new PyObject(new PyGlobal('posix', 'system'), [`touch ${marker}`]);
    const top = save(torchLegacy(evil, {}));
    await expect(openWeights(top)).rejects.toThrow(/legacy torch\.save: refusing global posix\.system/);
    const inside = save(torchLegacy(new PyOrderedDict([['w', new PyTensor(s0, 0, [4], [1])], ['x', evil]]), storages));
    await expect(openWeights(inside)).rejects.toThrow(/refusing global posix\.system/);
    const asMagic = save(torchLegacy(stateDict, storages, { magic: new PyObject(new PyGlobal('builtins', 'eval'), ['1']) }));
    await expect(openWeights(asMagic)).rejects.toThrow(/refusing global builtins\.eval/);
    // a REDUCE by hand (not the NEWOBJ the writer uses): GLOBAL os.system, ('id',), REDUCE
    const reduce = Uint8Array.from([0x80, 2, 0x63, ...new TextEncoder().encode('os\nsystem\n'), 0x58, 2, 0, 0, 0, 0x69, 0x64, 0x85, 0x52, 0x2e]);
    await expect(openWeights(save(torchLegacy(null, {}, { objectPickle: reduce })))).rejects.toThrow(/refusing global os\.system/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('tells a safetensors file whose header length starts 80 02 from a legacy pickle', async () => {
    let bytes: Uint8Array = new Uint8Array(0);
    for (let pad = 0; pad < 1000; pad++) {
      bytes = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }], { note: 'x'.repeat(pad) });
      if (new DataView(bytes.buffer).getBigUint64(0, true) === 0x280n) break;
    }
    expect([...bytes.subarray(0, 2)]).toEqual([0x80, 0x02]);
    const wf = await openWeights(save(bytes));
    expect(wf.format).toBe('safetensors');
    expect([...wf.float32('w')]).toEqual([1, 2]);
    wf.close();
  });

  it('gives clear errors for malformed files', async () => {
    await expect(openWeights(save(torchLegacy(stateDict, storages, { magic: 1234 })))).rejects.toThrow(/not a torch\.save file \(the first pickle is not torch's magic number\)/);
    await expect(openWeights(save(torchLegacy(stateDict, storages, { protocol: 1000 })))).rejects.toThrow(/legacy torch\.save protocol version 1000 is not supported/);
    await expect(openWeights(save(torchLegacy(stateDict, storages, { littleEndian: false })))).rejects.toThrow(/big-endian/);
    const whole = torchLegacy(stateDict, storages);
    await expect(openWeights(save(whole.subarray(0, whole.length - 4)))).rejects.toThrow(/storage '140231' runs past the end of the file/);
    await expect(openWeights(save(whole.subarray(0, 40)))).rejects.toThrow(/pickle (data truncated|ended without STOP)/);
    await expect(openWeights(save(torchLegacy(stateDict, storages, { counts: { 140230: 23 } })))).rejects.toThrow(
      /storage '140230' records 23 elements but its tensors expect 24/,
    );
    await expect(openWeights(save(torchLegacy(stateDict, { 140230: f32 })))).rejects.toThrow(/tensor 'num_batches_tracked' refers to storage '140231', which is not in the file/);
  });

  it('reads the biggan-tiny pytorch_model.bin written by torch.save(_use_new_zipfile_serialization=False)', async () => {
    const wf = await openWeights(bigganFixture('biggan', 'pytorch_model.bin'));
    try {
      expect(wf.format).toBe('torch-legacy');
      expect(wf.tensors.size).toBe(314);
      expect(wf.tensors.get('embeddings.weight')?.shape).toEqual([16, 10]);
      expect(wf.tensors.get('generator.gen_z.weight_orig')?.shape).toEqual([1024, 32]);
      expect(wf.tensors.get('generator.layers.2.gamma')?.shape).toEqual([1]);
      expect(wf.tensors.get('generator.layers.0.bn_0.running_vars')?.shape).toEqual([51, 64]);
      expect(wf.tensors.get('generator.conv_to_rgb.weight_orig')?.shape).toEqual([4, 4, 3, 3]);
      const vars = wf.float32('generator.layers.0.bn_0.running_vars');
      expect(vars.length).toBe(51 * 64);
      expect(vars.every((v) => v > 0)).toBe(true);
      // every tensor reads
      let total = 0;
      for (const name of wf.tensors.keys()) total += wf.float32(name).length;
      expect(total).toBeGreaterThan(100_000);
    } finally {
      wf.close();
    }
  });
});
