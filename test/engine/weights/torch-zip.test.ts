import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f32ToF16 } from '../../../src/engine/weights/dtype.ts';
import { TAR_TORCH_MESSAGE, listTensors, openWeights, PickleObject } from '../../../src/engine/weights/index.ts';
import {
  PyBytes, PyFloat, PyGlobal, PyObject, PyOrderedDict, PyTensor, PyTuple, torchZip, writeZip, type PyValue, type StorageSpec,
} from './helpers.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torchzip-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const save = (bytes: Uint8Array, name = `f${n++}.ckpt`) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, bytes);
  return p;
};

// storage 0: float32 0..39
const s0: StorageSpec = { key: '0', type: 'FloatStorage', numel: 40 };
const f32 = Float32Array.from({ length: 40 }, (_, i) => i);
// storage 1: half
const halfVals = [1, -2, 0.5, 65504, 2 ** -24, -0];
const s1: StorageSpec = { key: '1', type: 'HalfStorage', numel: 6 };
// storage 2: bfloat16 = the high 16 bits of these float32s (exactly representable)
const bfVals = [1.5, -3, 2 ** 100, 0.0078125, -0];
const bf = new Uint16Array(new Uint32Array(Float32Array.from(bfVals).buffer).map((x) => x >>> 16));
const s2: StorageSpec = { key: '2', type: 'BFloat16Storage', numel: 5 };
// storage 3: int64
const s3: StorageSpec = { key: '3', type: 'LongStorage', numel: 4 };
const i64 = new BigInt64Array([12345678901234n, -1n, 7n, 2n ** 62n]);
const s4: StorageSpec = { key: '4', type: 'DoubleStorage', numel: 2 };
const s5: StorageSpec = { key: '5', type: 'IntStorage', numel: 2 };
const s6: StorageSpec = { key: '6', type: 'BoolStorage', numel: 3 };
const s7: StorageSpec = { key: '7', type: 'CharStorage', numel: 2 };
const s8: StorageSpec = { key: '8', type: 'ByteStorage', numel: 2 };

const storages = {
  0: f32, 1: f32ToF16(halfVals), 2: bf, 3: i64, 4: new Float64Array([Math.PI, -1e-3]), 5: new Int32Array([-7, 9]),
  6: new Uint8Array([1, 0, 1]), 7: new Int8Array([-128, 5]), 8: new Uint8Array([200, 3]),
};

const stateDict = new PyOrderedDict(
  [
    // non-contiguous (a transposed view) with a storage offset: t[i][j] = 5 + i + 3j
    ['strided.t', new PyTensor(s0, 5, [3, 4], [1, 3])],
    // every other element of two rows: t[i][j] = 2 + 10i + 2j
    ['strided.skip', new PyTensor(s0, 2, [2, 3], [10, 2])],
    // expanded (stride 0)
    ['strided.expand', new PyTensor(s0, 7, [3, 2], [0, 1])],
    // contiguous with an offset, and a size-1 dim with an arbitrary stride (still contiguous)
    ['contig.offset', new PyTensor(s0, 20, [2, 5], [5, 1])],
    ['contig.size1', new PyTensor(s0, 30, [1, 4], [99, 1])],
    ['param.weight', new PyTensor(s0, 0, [2, 2], [2, 1], true)],
    ['half', new PyTensor(s1, 0, [2, 3], [3, 1])],
    ['half.col', new PyTensor(s1, 1, [2], [3])],
    ['bf16', new PyTensor(s2, 0, [5], [1])],
    ['loss.discriminator.main.3.num_batches_tracked', new PyTensor(s3, 0, [], [])],
    ['long', new PyTensor(s3, 1, [3], [1])],
    ['double', new PyTensor(s4, 0, [2], [1])],
    ['int', new PyTensor(s5, 0, [2], [1])],
    ['bool', new PyTensor(s6, 0, [3], [1])],
    ['char', new PyTensor(s7, 0, [2], [1])],
    ['byte', new PyTensor(s8, 0, [2], [1])],
    ['empty', new PyTensor(s0, 0, [0, 3], [3, 1])],
  ],
  new PyOrderedDict([['', new Map([['version', 1]])], ['loss', new Map([['version', 1]])]]),
);

const MC = new PyGlobal('pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint');
const lightning = new Map<PyValue, PyValue>([
  ['epoch', 7],
  ['global_step', 2n ** 60n],
  ['pytorch-lightning_version', '1.0.8'],
  ['callbacks', new Map([[MC, new Map<PyValue, PyValue>([['best_model_score', new PyTensor(s0, 3, [], [])], ['monitor', 'val/rec_loss']])]])],
  ['optimizer_states', [new Map<PyValue, PyValue>([
    ['state', new Map<PyValue, PyValue>([[0, new Map<PyValue, PyValue>([['step', 10], ['exp_avg', new PyTensor(s0, 0, [2, 2], [2, 1])]])]])],
    ['param_groups', [new Map<PyValue, PyValue>([['lr', new PyFloat(4.5e-6)], ['betas', new PyTuple([new PyFloat(0.5), new PyFloat(0.9)])], ['amsgrad', false], ['params', [0, 1]]])]],
  ])]],
  ['lr_schedulers', []],
  ['state_dict', stateDict],
  ['callback_obj', new PyObject(MC, [], new Map<PyValue, PyValue>([['monitor', 'val/rec_loss'], ['save_top_k', -1], ['dirpath', null]]))],
  ['hparams', new PyObject(new PyGlobal('argparse', 'Namespace'), [], new Map<PyValue, PyValue>([['base_lr', new PyFloat(4.5e-6)]]))],
  ['blob', new PyBytes(new Uint8Array([0, 1, 0xff]))],
]);

function expectLightningContent(wf: Awaited<ReturnType<typeof openWeights>>) {
  expect(wf.format).toBe('torch-zip');
  expect([...wf.tensors.keys()]).toEqual(stateDict.entries.map(([k]) => k));
  const at = (t: number[][]) => t.flat();
  expect([...wf.float32('strided.t')]).toEqual(at([[5, 8, 11, 14], [6, 9, 12, 15], [7, 10, 13, 16]]));
  expect([...wf.float32('strided.skip')]).toEqual([2, 4, 6, 12, 14, 16]);
  expect([...wf.float32('strided.expand')]).toEqual([7, 8, 7, 8, 7, 8]);
  expect([...wf.float32('contig.offset')]).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
  expect([...wf.float32('contig.size1')]).toEqual([30, 31, 32, 33]);
  expect([...wf.float32('param.weight')]).toEqual([0, 1, 2, 3]);
  expect(wf.tensors.get('half')).toEqual({ name: 'half', dtype: 'float16', shape: [2, 3] });
  expect([...wf.float32('half')]).toEqual(halfVals);
  expect([...wf.float32('half.col')]).toEqual([-2, 2 ** -24]);
  expect(wf.tensors.get('bf16')!.dtype).toBe('bfloat16');
  expect([...wf.float32('bf16')]).toEqual(bfVals);
  expect(wf.tensors.get('loss.discriminator.main.3.num_batches_tracked')).toEqual({ name: 'loss.discriminator.main.3.num_batches_tracked', dtype: 'int64', shape: [] });
  expect([...wf.int64('loss.discriminator.main.3.num_batches_tracked')]).toEqual([12345678901234n]);
  expect([...wf.int64('long')]).toEqual([-1n, 7n, 2n ** 62n]);
  expect([...wf.float32('long')]).toEqual([-1, 7, 2 ** 62]);
  expect([...wf.float32('double')]).toEqual([Math.fround(Math.PI), Math.fround(-1e-3)]);
  expect([...wf.int64('int')]).toEqual([-7n, 9n]);
  expect([...wf.int64('bool')]).toEqual([1n, 0n, 1n]);
  expect([...wf.float32('char')]).toEqual([-128, 5]);
  expect([...wf.int64('byte')]).toEqual([200n, 3n]);
  expect(wf.float32('empty').length).toBe(0);
  expect(() => wf.int64('half')).toThrow(/tensor 'half' is float16, not an integer tensor/);
  expect(() => wf.float32('nope')).toThrow(/no tensor named 'nope'/);
  expect(Buffer.from(wf.raw('half'))).toEqual(Buffer.from(storages[1].buffer));
}

describe('torch zip reader (hand-built archives)', () => {
  it('reads a Lightning-style checkpoint: strides, offsets, f16/bf16/int64 and opaque objects', async () => {
    const p = save(torchZip(lightning, storages));
    const wf = await openWeights(p);
    expectLightningContent(wf);
    // float32 of a contiguous float32 tensor is a view on the bytes read for it
    const v = wf.float32('contig.offset');
    expect(v.buffer.byteLength).toBe(v.byteLength);

    const meta = wf.meta as Map<string, unknown>;
    expect(meta.get('epoch')).toBe(7);
    expect(meta.get('global_step')).toBe(2n ** 60n);
    const cb = (meta.get('callbacks') as Map<string, Map<string, unknown>>).get('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint')!;
    expect(cb.get('monitor')).toBe('val/rec_loss');
    const obj = meta.get('callback_obj') as PickleObject;
    expect(obj).toBeInstanceOf(PickleObject);
    expect((obj.state as Map<string, unknown>).get('save_top_k')).toBe(-1);
    expect((meta.get('hparams') as PickleObject).__class__).toBe('argparse.Namespace');
    const opt = (meta.get('optimizer_states') as Map<string, unknown>[])[0]!;
    expect(((opt.get('state') as Map<number, Map<string, unknown>>).get(0)!).get('step')).toBe(10);
    expect(((opt.get('param_groups') as Map<string, unknown>[])[0]!).get('betas')).toEqual([0.5, 0.9]);
    expect(meta.get('blob')).toEqual(new Uint8Array([0, 1, 0xff]));
    wf.close();
    expect(() => wf.float32('half')).toThrow(/closed/);
  });

  it('handles torch 64-byte alignment records, deflated entries and ZIP64 directories', async () => {
    for (const opts of [{ align64: true }, { deflate: true }, { zip64: true }, { zip64: true, align64: true, dir: 'some_model' }]) {
      const wf = await openWeights(save(torchZip(lightning, storages, opts)));
      expectLightningContent(wf);
      wf.close();
    }
  });

  it('reads an HF-style plain OrderedDict of tensors, and honours stateDictKey', async () => {
    const hf = await openWeights(save(torchZip(stateDict, storages, { dir: 'pytorch_model' })));
    expectLightningContent(hf);
    hf.close();
    const ema = new PyOrderedDict([['x', new PyTensor(s0, 0, [4], [1])]]);
    const both = save(torchZip(new Map<PyValue, PyValue>([['state_dict', stateDict], ['ema', ema]]), storages));
    expect([...(await listTensors(both)).keys()]).toContain('strided.t');
    const wf = await openWeights(both, { stateDictKey: 'ema' });
    expect([...wf.tensors.keys()]).toEqual(['x']);
    wf.close();
    await expect(openWeights(both, { stateDictKey: 'nope' })).rejects.toThrow(/no dict under key 'nope' \(top-level keys: state_dict, ema\)/);
    const none = save(torchZip(new Map<PyValue, PyValue>([['epoch', 1]]), {}));
    await expect(openWeights(none)).rejects.toThrow(/no state dict of tensors found \(top-level keys: epoch\)/);
  });

  it('gives clear errors for truncated and malformed archives', async () => {
    const good = torchZip(lightning, storages);
    const cut = save(good.subarray(0, good.length - 200), 'cut.ckpt');
    await expect(openWeights(cut)).rejects.toThrow(`${cut}: not a readable zip archive: end-of-central-directory record not found (file truncated or corrupt)`);
    const half = save(good.subarray(0, good.length >> 1), 'half.ckpt');
    await expect(openWeights(half)).rejects.toThrow(/half\.ckpt: not a readable zip archive: end-of-central-directory/);

    // a storage record shorter than the tensors need
    const short = save(torchZip(new PyOrderedDict([['w', new PyTensor(s0, 0, [40], [1])]]), { 0: f32.subarray(0, 32) }), 'short.ckpt');
    await expect(openWeights(short)).rejects.toThrow(`${short}: tensor 'w' needs 160 bytes of storage '0' but its record holds 128 (truncated or corrupt)`);
    const missing = save(torchZip(new PyOrderedDict([['w', new PyTensor(s0, 0, [40], [1])]]), {}), 'missing.ckpt');
    await expect(openWeights(missing)).rejects.toThrow(`${missing}: tensor 'w' refers to missing record 'archive/data/0'`);
    const shortT = save(torchZip(new PyOrderedDict([['w', new PyTensor({ key: '0', type: 'ShortStorage', numel: 2 }, 0, [2], [1])]]), { 0: new Int16Array(2) }));
    await expect(openWeights(shortT)).rejects.toThrow(/tensor 'w' uses unsupported storage type ShortStorage/);
    const noPkl = save(writeZip([{ name: 'x/y.txt', data: new Uint8Array(3) }]));
    await expect(openWeights(noPkl)).rejects.toThrow(/not a torch\.save archive \(no 'x\/data\.pkl'\)/);
    const badPkl = torchZip(lightning, storages);
    const pklStart = 30 + 'archive/data.pkl'.length;
    badPkl[pklStart + 2] = 0xff; // corrupt an opcode inside data.pkl
    await expect(openWeights(save(badPkl))).rejects.toThrow(/archive\/data\.pkl: unknown pickle opcode \(opcode 0xff at byte 2\)/);
  });

  it('sends pickle-first files to the legacy reader and refuses the tar format with a clear message', async () => {
    // the start of what torch writes with _use_new_zipfile_serialization=False (the rest is in torch-legacy.test.ts)
    const legacy = save(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02]), 'legacy.ckpt');
    await expect(openWeights(legacy)).rejects.toThrow(`${legacy}: legacy torch.save: pickle ended without STOP`);
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode('ustar'), 257);
    await expect(openWeights(save(tar, 'old.tar'))).rejects.toThrow(`old.tar: ${TAR_TORCH_MESSAGE}`);
    expect(TAR_TORCH_MESSAGE).toMatch(/^the tar-based torch\.save format \(torch < 0\.4\) is not supported: re-save with torch>=1\.6/);
    const junk = save(new TextEncoder().encode('hello world, not weights'), 'junk.bin');
    await expect(openWeights(junk)).rejects.toThrow(/junk\.bin: unrecognised weight format \(first bytes 68 65 6c 6c/);
    await expect(openWeights(save(new Uint8Array(0), 'empty.bin'))).rejects.toThrow(/empty\.bin: file is empty/);
    await expect(openWeights(path.join(tmp, 'does-not-exist.ckpt'))).rejects.toThrow(/ENOENT/);
  });
});
