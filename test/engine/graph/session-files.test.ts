/** Large graphs reach ONNX Runtime through files it maps (and the files go once the session exists). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Graph, Session, matmul, onRuntimeWarning, serialize } from '../../../src/engine/graph/index.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-spill-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function model() {
  const n = 3072; // 36 MiB of weights: above the 32 MiB threshold
  const w = new Float32Array(n * n);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  const g = new Graph();
  g.output(matmul(g.input('x', [2, n]), g.constant(w, [n, n], 'w')), 'y');
  const x = new Float32Array(2 * n).map((_, i) => Math.sin(i));
  const expected = new Float64Array(2 * n);
  for (let r = 0; r < 2; r++) for (let k = 0; k < n; k++) for (let c = 0; c < n; c++) expected[r * n + c]! += x[r * n + k]! * w[k * n + c]!;
  return { m: serialize(g), x, expected };
}

describe('Session.create through files', () => {
  const { m, x, expected } = model();

  it('gives the same results as weights handed over in memory, and leaves no files behind', async () => {
    const viaFiles = await Session.create(m, { threads: 1, spillDir: dir });
    expect(fs.readdirSync(dir)).toEqual([]);
    const inMemory = await Session.create(m, { threads: 1, spillDir: false });
    const a = (await viaFiles.run({ x })).y as Float32Array;
    const b = (await inMemory.run({ x })).y as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    for (let i = 0; i < a.length; i += 997) expect(a[i]).toBeCloseTo(expected[i]!, 2);
    await viaFiles.release();
    await inMemory.release();
  });

  it('removes the weight folders that dead processes left behind, not those of live ones', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'orphans-'));
    const dead = path.join(sub, 'reverie-weights-2147483646-abc');
    const live = path.join(sub, `reverie-weights-${process.ppid}-abc`);
    for (const d of [dead, live]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'w.bin'), 'x');
    }
    const s = await Session.create(m, { threads: 1, spillDir: sub });
    expect(fs.readdirSync(sub).sort()).toEqual([path.basename(live)]);
    await s.release();
  });

  it('falls back to memory when the folder cannot be written, and says so to whoever listens', async () => {
    const warnings: string[] = [];
    const stop = onRuntimeWarning((w) => warnings.push(w));
    const missing = path.join(dir, 'missing', 'deeper');
    try {
      const s = await Session.create(m, { threads: 1, spillDir: missing });
      expect(((await s.run({ x })).y as Float32Array)[5]).toBeCloseTo(expected[5]!, 2);
      await s.release();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`could not write the weights (36 MB) to ${missing}`);
      expect(warnings[0]).toMatch(/ENOENT/);
      // written as asked: nothing to say
      await (await Session.create(m, { threads: 1, spillDir: dir })).release();
    } finally {
      stop();
    }
    expect(warnings).toHaveLength(1);
  });
});
