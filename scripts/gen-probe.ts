import fs from 'node:fs';
import { Engine, loadModels } from '../src/engine/generate/generator.ts';
import { DEFAULT_AUGMENTS } from '../src/engine/generate/cutouts.ts';
const F = '/work/shared/fixtures/parity-tiny/';
const models = await loadModels(F + 'clip-openai', F + 'vqgan');
const engine = new Engine(models, 'cpu', 2);
for (const method of ['latest', 'original'] as const) {
  const t0 = Date.now();
  const r = await engine.generate({ prompts: [{ text: 'a red apple', weight: 1, stop: -Infinity }], imagePrompts: [], noisePrompts: [], width: 64, height: 64, steps: 30, seed: 7, cutn: 8, cutMethod: method, cutPow: 1, augments: DEFAULT_AUGMENTS[method], lr: 0.1, optimiser: 'Adam', initWeight: 0, saveEvery: 10, timelapse: true }, { onProgress: (p) => { if (p.step % 10 === 0 || p.step === 1) console.log(method, p.step, p.loss.toFixed(4), p.similarity.toFixed(4), p.itPerSec.toFixed(1)); } });
  console.log(method, 'total', Date.now() - t0, 'ms; build', r.timings.buildMs.toFixed(0), 'session', r.timings.sessionMs.toFixed(0), 'png', r.png.length, 'webp', r.timelapseWebp?.length);
  fs.writeFileSync(`/tmp/probe-${method}.png`, r.png);
}
