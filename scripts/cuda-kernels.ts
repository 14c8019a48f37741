/**
 * node --import tsx scripts/cuda-kernels.ts OperatorKernels.md --source OWNER/REPO@COMMIT --version X.Y.Z [--note TEXT]
 *
 * Regenerates src/engine/graph/cuda-kernels.json, the table of ONNX Runtime's CUDAExecutionProvider
 * kernels (domains ai.onnx and com.microsoft), from a saved copy of ORT's docs/OperatorKernels.md
 * (e.g. `git show COMMIT:docs/OperatorKernels.md`). The markdown itself is not kept in the repo.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CudaKernelTable, KernelInput, OpKernels } from '../src/engine/graph/cuda-kernels.ts';

const DOMAINS = new Set(['ai.onnx', 'com.microsoft']);

function parseRange(s: string): { since: number; until: number | null } {
  let m = /^(\d+)\+$/.exec(s);
  if (m) return { since: Number(m[1]), until: null };
  m = /^\[(\d+),\s*(\d+)\]$/.exec(s);
  if (m) return { since: Number(m[1]), until: Number(m[2]) };
  m = /^(\d+)$/.exec(s);
  if (m) return { since: Number(m[1]), until: Number(m[1]) };
  throw new Error(`unreadable opset range "${s}"`);
}

function parseSignatures(cell: string): KernelInput[][] {
  return cell.split('<br><br>or<br><br>').map((alt) => {
    const inputs: KernelInput[] = [];
    for (const m of alt.matchAll(/\*in\* ([^:]+):\*\*([^*]+)\*\*/g)) {
      const fixed = /^tensor\((\w+)\)$/.exec(m[2]!);
      inputs.push(fixed ? { name: m[1]!, type: fixed[1]!, fixed: true } : { name: m[1]!, type: m[2]! });
    }
    return inputs;
  });
}

function parseTypes(cell: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const part of cell.split('<br/>')) {
    const m = /\*\*([^*]+)\*\* = (.*)$/.exec(part.trim());
    if (!m) continue;
    out[m[1]!] = [...m[2]!.matchAll(/(?:^|, )tensor\((\w+)\)/g)].map((t) => t[1]!); // seq(…) and optional(…) types are not tensors the engine feeds
  }
  return out;
}

/** The CUDA section of OperatorKernels.md as a table. */
export function parseCudaKernels(markdown: string): Record<string, Record<string, OpKernels>> {
  const start = markdown.indexOf('## Operators implemented by CUDAExecutionProvider');
  if (start < 0) throw new Error('no CUDAExecutionProvider section');
  const end = markdown.indexOf('\n## ', start + 10);
  const lines = markdown.slice(start, end < 0 ? undefined : end).split('\n');
  const domains: Record<string, Record<string, OpKernels>> = {};
  let domain = '';
  let op: OpKernels | null = null;
  for (const line of lines) {
    const d = /^\|\*\*Operator Domain:\*\* \*([^*]+)\*/.exec(line);
    if (d) {
      domain = d[1]!;
      op = null;
      continue;
    }
    if (!DOMAINS.has(domain) || !line.startsWith('|') || line.startsWith('|--') || line.startsWith('| Op Name')) continue;
    const cells = line.split('|').slice(1, -1);
    if (cells.length < 4) continue;
    const [name, params, range, types] = cells as [string, string, string, string];
    if (name.trim()) {
      op = { signatures: parseSignatures(params), ranges: [] };
      (domains[domain] ??= {})[name.trim()] = op;
    }
    if (!op || !range.trim()) continue;
    op.ranges.push({ ...parseRange(range.trim()), types: parseTypes(types) });
  }
  return domains;
}

function main(argv: string[]): void {
  const arg = (k: string) => {
    const i = argv.indexOf(`--${k}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const file = argv[0];
  const source = arg('source');
  const version = arg('version');
  if (!file || !source?.includes('@') || !version) {
    throw new Error('usage: cuda-kernels.ts OperatorKernels.md --source OWNER/REPO@COMMIT --version X.Y.Z [--note TEXT]');
  }
  const [repo, commit] = source.split('@') as [string, string];
  const note = arg('note');
  const table: CudaKernelTable = {
    source: { repo, commit, version, file: 'docs/OperatorKernels.md', ...(note ? { note } : {}) },
    domains: parseCudaKernels(fs.readFileSync(file, 'utf8')),
  };
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/engine/graph/cuda-kernels.json');
  // one op per line: small diffs when the table is regenerated
  const domains = Object.entries(table.domains).map(
    ([d, ops]) => `  ${JSON.stringify(d)}: {\n${Object.entries(ops).map(([k, v]) => `   ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n  }`,
  );
  fs.writeFileSync(out, `{\n "source": ${JSON.stringify(table.source)},\n "domains": {\n${domains.join(',\n')}\n }\n}\n`);
  const n = Object.values(table.domains).reduce((s, d) => s + Object.keys(d).length, 0);
  process.stdout.write(`${out}: ${n} op types\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) main(process.argv.slice(2));
