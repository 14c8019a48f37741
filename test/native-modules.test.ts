import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import * as ort from 'onnxruntime-node';

// Catches a missing install step: each native addon must really load and work in a fresh clone.
describe('native modules', () => {
  it('better-sqlite3 opens a database and runs SQL', () => {
    const db = new Database(':memory:');
    expect(db.prepare('select 40 + 2 as x').get()).toEqual({ x: 42 });
    db.close();
  });

  it('sharp encodes and decodes a PNG', async () => {
    const png = await sharp(Buffer.from([255, 0, 0, 0, 255, 0]), { raw: { width: 2, height: 1, channels: 3 } }).png().toBuffer();
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(info.width).toBe(2);
    expect([...data]).toEqual([255, 0, 0, 0, 255, 0]);
  });

  it('onnxruntime-node has the CPU execution provider', () => {
    expect(ort.listSupportedBackends().map((b) => b.name)).toContain('cpu');
  });
});
