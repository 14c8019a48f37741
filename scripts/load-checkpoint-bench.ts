/**
 * node --import tsx scripts/load-checkpoint-bench.ts [--keep] [--no-session]
 *
 * Writes a random 605 MB safetensors with the real CLIP ViT-B/32 key names and shapes (OpenAI naming,
 * float32) to a temp folder, then, in a fresh child process, measures ClipModel.load time and memory:
 * process.memoryUsage().rss sampled every 5 ms from a worker thread (the load reads synchronously, so the
 * main thread cannot sample) and resourceUsage().maxRSS; then, unless --no-session, the time and memory
 * to build the image+text graph and open an ONNX Runtime session on it. Prints JSON. The file was just
 * written, so it is read from the page cache (a cold read adds disk time). Deletes the temp folder after.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseArgs, runCli } from '../src/cli/args.ts';
import { clipKeys, numel, Rng, clipInitStd } from '../test/helpers/model-keys.ts';

const MiB = 2 ** 20;

/** Streams a float32 safetensors file: one tensor in memory at a time. */
function writeRandomSafetensors(file: string): { bytes: number; tensors: number } {
  const keys = clipKeys();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const [name, shape] of keys) {
    const n = numel(shape) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = fs.openSync(file, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    const rng = new Rng(7);
    for (const [name, shape] of keys) {
      const { std, mean = 0 } = clipInitStd(name, shape);
      const a = rng.fillUniform(new Float32Array(numel(shape)), std, mean);
      fs.writeSync(fd, new Uint8Array(a.buffer));
    }
  } finally {
    fs.closeSync(fd);
  }
  return { bytes: fs.statSync(file).size, tensors: keys.length };
}

async function child(dir: string, session: boolean): Promise<void> {
  const { ClipModel, eotPositions } = await import('../src/engine/models/clip.ts');
  const { Graph, Session, serialize } = await import('../src/engine/graph/index.ts');
  const shared = new BigInt64Array(new SharedArrayBuffer(8));
  const sampler = new Worker(
    `const { workerData } = require('node:worker_threads');
     const peak = workerData;
     setInterval(() => { const r = BigInt(process.memoryUsage().rss); if (r > Atomics.load(peak, 0)) Atomics.store(peak, 0, r); }, 5);`,
    { eval: true, workerData: shared },
  );
  await new Promise((r) => setTimeout(r, 50));
  const rss = () => process.memoryUsage().rss / MiB;
  const peakSampled = () => Number(Atomics.load(shared, 0)) / MiB;
  const rssBefore = rss();
  Atomics.store(shared, 0, 0n);
  let t = performance.now();
  const clip = await ClipModel.load(dir);
  const loadSeconds = (performance.now() - t) / 1000;
  await new Promise((r) => setTimeout(r, 20));
  const result: Record<string, unknown> = {
    config: clip.config,
    paramMiB: +(clip.params.bytes() / MiB).toFixed(1),
    loadSeconds: +loadSeconds.toFixed(2),
    rssBeforeMiB: +rssBefore.toFixed(0),
    rssAfterLoadMiB: +rss().toFixed(0),
    peakRssDuringLoadMiB: +peakSampled().toFixed(0),
    maxRssAfterLoadMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(0),
  };
  if (session) {
    Atomics.store(shared, 0, 0n);
    t = performance.now();
    const g = new Graph();
    const r = clip.inputSize;
    const x = g.input('image', [1, 3, r, r]);
    const tokens = g.input('tokens', [1, 77], 'int64');
    const eot = g.input('eot', [1], 'int64');
    g.output(clip.encodeImage(g, clip.normalize(g, x)), 'image_embed');
    g.output(clip.encodeText(g, tokens, eot), 'text_embed');
    const s = await Session.create(serialize(g));
    result.sessionSeconds = +((performance.now() - t) / 1000).toFixed(2);
    const ids = new BigInt64Array(77);
    ids[0] = 49406n;
    ids[1] = 49407n;
    t = performance.now();
    await s.run({ image: new Float32Array(3 * r * r).fill(0.5), tokens: ids, eot: eotPositions(ids, 1, 77) });
    result.firstRunSeconds = +((performance.now() - t) / 1000).toFixed(2);
    await new Promise((res) => setTimeout(res, 20));
    result.rssWithSessionMiB = +rss().toFixed(0);
    result.peakRssDuringSessionMiB = +peakSampled().toFixed(0);
    result.maxRssMiB = +(process.resourceUsage().maxRSS / 1024).toFixed(0);
    await s.release();
  }
  await sampler.terminate();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

runCli('load-checkpoint-bench', async (argv) => {
  const { values, positionals } = parseArgs(argv, { child: { type: 'boolean' }, keep: { type: 'boolean' }, 'no-session': { type: 'boolean' } }, { positionals: { max: 1 } });
  if (values.child) {
    await child(positionals[0]!, !values['no-session']);
    return 0;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverie-clip-bench-'));
  try {
    const file = path.join(dir, 'open_clip_model.safetensors');
    let t = performance.now();
    const written = writeRandomSafetensors(file);
    const writeSeconds = (performance.now() - t) / 1000;
    process.stderr.write(`wrote ${file}: ${(written.bytes / MiB).toFixed(1)} MiB, ${written.tensors} tensors, ${writeSeconds.toFixed(1)} s\n`);
    t = performance.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ...(values['no-session'] ? ['--no-session'] : []), dir], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`child exited with ${r.status}`);
    const measured = JSON.parse(r.stdout) as Record<string, unknown>;
    process.stdout.write(`${JSON.stringify({ fileBytes: written.bytes, writeSeconds: +writeSeconds.toFixed(1), cpus: os.cpus().length, node: process.version, ...measured }, null, 2)}\n`);
    return 0;
  } finally {
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
});
