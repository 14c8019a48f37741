/** src/engine/graph/ops: op files import their siblings directly, never the barrel, and never in a cycle. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const OPS = fileURLToPath(new URL('../../../src/engine/graph/ops/', import.meta.url));

/** The sibling modules ('./x.ts') a source file imports or re-exports from, type-only ones included. */
function siblingImports(source: string): string[] {
  const from = /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]\.\/([^'"]+)['"]/gm;
  const bare = /^\s*import\s*['"]\.\/([^'"]+)['"]/gm;
  return [...source.matchAll(from), ...source.matchAll(bare)].map((m) => m[1]!);
}

/** One cycle of the directed graph as a path that ends where it starts, or null. */
function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (v: string): string[] | null => {
    if (state.get(v) === 'done') return null;
    if (state.get(v) === 'open') return [...path.slice(path.indexOf(v)), v];
    state.set(v, 'open');
    path.push(v);
    for (const w of edges.get(v) ?? []) {
      const cycle = visit(w);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(v, 'done');
    return null;
  };
  for (const v of edges.keys()) {
    const cycle = visit(v);
    if (cycle) return cycle;
  }
  return null;
}

const files = readdirSync(OPS).filter((f) => f.endsWith('.ts'));
const edges = new Map(files.map((f) => [f, siblingImports(readFileSync(join(OPS, f), 'utf8'))]));

describe('the import parser and cycle finder', () => {
  it('read single-line, multi-line, type-only, re-export and bare imports', () => {
    const src = [
      "import { a } from './a.ts';",
      'import {',
      '  b,',
      '  type B,',
      "} from './b.ts';",
      "import type { C } from './c.ts';",
      "export * from './d.ts';",
      "import './e.ts';",
      "import { f } from '../f.ts';",
    ].join('\n');
    expect(siblingImports(src).sort()).toEqual(['a.ts', 'b.ts', 'c.ts', 'd.ts', 'e.ts']);
  });
  it('find a cycle, and none in a DAG', () => {
    expect(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toBeNull();
  });
});

describe('src/engine/graph/ops imports', () => {
  it('are parsed (elementwise.ts imports broadcast.ts and registry.ts)', () => {
    expect(edges.get('elementwise.ts')).toEqual(expect.arrayContaining(['broadcast.ts', 'registry.ts']));
  });
  it('name existing sibling files', () => {
    const missing = [...edges].flatMap(([f, to]) => to.filter((t) => !existsSync(join(OPS, t))).map((t) => `${f} → ${t}`));
    expect(missing).toEqual([]);
  });
  it('never go through the barrel index.ts', () => {
    const viaBarrel = [...edges].filter(([f, to]) => f !== 'index.ts' && to.includes('index.ts')).map(([f]) => f);
    expect(viaBarrel).toEqual([]);
  });
  it('form no cycle', () => {
    expect(findCycle(edges)?.join(' → ') ?? null).toBeNull();
  });
});
