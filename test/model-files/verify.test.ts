import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkFile, compareTensors, moveAside, readSafetensorsHeader } from '../../src/model-files/verify.ts';
import { buildSafetensors, safetensorsListTensors, tmpDir } from './helpers.ts';

const expected = [
  { name: 'a.weight', shape: [4, 3] },
  { name: 'b', shape: [] },
  { name: 'c.bias', shape: [5] },
];
const tensors = expected.map((e) => ({ ...e }));
const listTensors = safetensorsListTensors;

describe('checkFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir('reverie-verify-');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const put = (name: string, data: Buffer | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data);
    return p;
  };

  it('accepts a safetensors file with the expected tensors (extra tensors are fine)', async () => {
    const p = put('ok.safetensors', buildSafetensors([...tensors, { name: 'extra', shape: [2] }]));
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors });
    expect(r).toMatchObject({ ok: true, problem: '' });
    const h = await readSafetensorsHeader(p);
    expect(h!.tensors.get('a.weight')).toEqual({ name: 'a.weight', dtype: 'F32', shape: [4, 3] });
  });

  it('rejects a file with other tensor names as the wrong file', async () => {
    const p = put('wrong.safetensors', buildSafetensors([{ name: 'transformer.h.0.w', shape: [4, 3] }]));
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors });
    expect(r.ok).toBe(false);
    expect(r.problem).toMatch(/none of the 3 expected tensors.*wrong file/);
    expect(r.problem).toContain('transformer.h.0.w');
  });

  it('names missing tensors and wrong shapes', async () => {
    const p = put('shape.safetensors', buildSafetensors([{ name: 'a.weight', shape: [3, 4] }, { name: 'b', shape: [] }]));
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors });
    expect(r.ok).toBe(false);
    expect(r.details).toContain('1 expected tensor is missing (e.g. c.bias)');
    expect(r.details).toContain('a.weight has shape [3, 4], expected [4, 3]');
  });

  it('detects a truncated safetensors file and trailing garbage', async () => {
    const full = buildSafetensors(tensors);
    const p = put('cut.safetensors', full.subarray(0, full.length - 10));
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors });
    expect(r.ok).toBe(false);
    expect(r.problem).toMatch(/^truncated/);
    const q = put('long.safetensors', Buffer.concat([full, Buffer.alloc(3)]));
    expect((await checkFile(q, { kind: 'tensors', expected }, { listTensors })).problem).toMatch(/unexpected bytes/);
  });

  it('detects a zip (torch checkpoint) without its end record', async () => {
    const p = put('cut.ckpt', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(1000)]));
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors: async () => new Map() });
    expect(r.problem).toMatch(/truncated: the zip archive has no end record/);
  });

  it('reports a reader failure as unreadable weights', async () => {
    const p = put('x.ckpt', Buffer.from('not weights at all, just text'));
    const r = await checkFile(p, { kind: 'tensors', expected }, {
      listTensors: async () => {
        throw new Error('bad magic\nmore detail');
      },
    });
    expect(r.problem).toBe('cannot be read as weights: bad magic');
  });

  it('recognises an HTML page served instead of the file', async () => {
    const p = put('last.ckpt', '<!DOCTYPE html><html><body>Sign in</body></html>');
    const r = await checkFile(p, { kind: 'tensors', expected }, { listTensors });
    expect(r.problem).toMatch(/web page instead of the file/);
  });

  it('checks JSON and text side files', async () => {
    const j = put('vocab.json', JSON.stringify({ '<|endoftext|>': 1 }));
    expect((await checkFile(j, { kind: 'json', requiredKeys: ['<|endoftext|>'] })).ok).toBe(true);
    expect((await checkFile(j, { kind: 'json', requiredKeys: ['model_cfg'] })).problem).toMatch(/lacks "model_cfg"/);
    const cut = put('cut.json', '{"a": [1, 2');
    expect((await checkFile(cut, { kind: 'json' })).problem).toMatch(/not valid JSON/);
    const t = put('merges.txt', '#version: 0.2\ni n\n');
    expect((await checkFile(t, { kind: 'text', startsWith: '#version' })).ok).toBe(true);
    expect((await checkFile(t, { kind: 'text', startsWith: '#version', minBytes: 1000 })).problem).toMatch(/truncated/);
    expect((await checkFile(t, { kind: 'text', contains: ['ddconfig'] })).problem).toMatch(/ddconfig/);
    expect((await checkFile(path.join(dir, 'none'), { kind: 'json' })).problem).toMatch(/not found/);
  });

  it('strips a Lightning state_dict. prefix when comparing', () => {
    const found = new Map([['state_dict.a.weight', { name: 'state_dict.a.weight', dtype: 'float32', shape: [4, 3] }]]);
    expect(compareTensors(found, [{ name: 'a.weight', shape: [4, 3] }])).toEqual([]);
  });

  it('moves a bad file aside', () => {
    const p = put('bad.bin', 'x');
    const to = moveAside(p);
    expect(to).toBe(`${p}.rejected`);
    expect(fs.existsSync(p)).toBe(false);
    expect(fs.readFileSync(to, 'utf8')).toBe('x');
  });
});
