/**
 * The shape of src/: layers import one way (front ends → jobs → engine, never back up), no import
 * cycle anywhere (type-only imports count), and no source file much over 400 lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.ts';
import { findCycle, importGraph, sourceFiles } from './imports.ts';

const SRC = path.join(repoRoot, 'src');

/**
 * A file may import files of its own layer or of lower ones. config.ts and log.ts are the base every
 * layer reads; model-files (weights on disk: locating, pulling, verifying) sits on the engine's readers.
 */
const LAYERS: [prefix: string, rank: number][] = [
  ['config.ts', 0],
  ['config-env.ts', 0],
  ['config-docs.ts', 0],
  ['config-variables.ts', 0],
  ['log.ts', 0],
  ['exit-codes.ts', 0],
  ['process-alive.ts', 0],
  ['engine/', 1],
  ['model-files/', 2],
  ['jobs/', 3],
  ['observability/', 4],
  ['bot/', 5],
  ['commands/', 6],
  ['cli/', 7],
  ['main.ts', 8],
];

export function layerOf(file: string): { name: string; rank: number } {
  const hit = LAYERS.find(([p]) => (p.endsWith('/') ? file.startsWith(p) : file === p));
  if (!hit) throw new Error(`src/${file} is in no layer: add its folder to LAYERS in this test`);
  return { name: hit[0].replace(/\/$/, ''), rank: hit[1] };
}

/** Import edges that go from a lower layer to a higher one. */
export function upwardImports(g: Map<string, string[]>): string[] {
  const bad: string[] = [];
  for (const [file, deps] of g) {
    const from = layerOf(file);
    for (const d of deps) {
      if (!g.has(d)) continue;
      const to = layerOf(d);
      if (to.rank > from.rank) bad.push(`${file} (${from.name}) imports ${d} (${to.name})`);
    }
  }
  return bad;
}

describe('src/ layers', () => {
  const g = importGraph(SRC);

  it('every import resolves to a file that exists', () => {
    const missing = [...g].flatMap(([f, ds]) => ds.filter((d) => !fs.existsSync(path.join(SRC, d))).map((d) => `${f} → ${d}`));
    expect(missing).toEqual([]);
  });

  it('no import goes from a lower layer to a higher one', () => {
    expect(upwardImports(g)).toEqual([]);
  });

  it('no import cycle', () => {
    expect(findCycle(g)).toBeNull();
  });

  it('the checks can fail: an upward edge and a cycle are found', () => {
    const bad = new Map([
      ['engine/a.ts', ['jobs/b.ts']],
      ['jobs/b.ts', ['engine/a.ts']],
    ]);
    expect(upwardImports(bad)).toEqual(['engine/a.ts (engine) imports jobs/b.ts (jobs)']);
    expect(findCycle(bad)).toEqual(['engine/a.ts', 'jobs/b.ts', 'engine/a.ts']);
  });

  it('no source file is much over 400 lines', () => {
    const long = sourceFiles(SRC)
      .map((f) => [path.relative(SRC, f), fs.readFileSync(f, 'utf8').split('\n').length] as const)
      .filter(([, n]) => n > 420)
      .map(([f, n]) => `${f}: ${n} lines`);
    expect(long).toEqual([]);
  });
});
