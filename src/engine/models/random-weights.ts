import { F16_16384, VIT_B_32, clipTensors, vqganTensors, type ClipHyper, type ExpectedTensor, type VqganHyper } from './expected.ts';
import type { WeightFile } from '../weights/index.ts';
import { Prng } from '../generate/prng.ts';
import { canonicalClipParams } from './clip-weights.ts';
import { ParamStore, type ParamArray } from './params.ts';

/**
 * Random weights under the real key names and shapes (src/models/expected.ts, the lists models:pull
 * checks files against), for benchmarks: shapes cost time, not values.
 */

/** uniform(±1/√fan-in) like torch's default init; norm weights 1 ± 0.05, other vectors ± 0.05 */
function fill(tensors: readonly ExpectedTensor[], seed: number): Map<string, ParamArray> {
  const rng = new Prng(seed);
  const arrays = new Map<string, ParamArray>();
  for (const { name, shape } of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNormWeight = /(ln_\w+|norm\w*)\.weight$/.test(name);
    const bound = shape.length >= 2 ? 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)) : 0.05;
    for (let i = 0; i < n; i++) data[i] = (isNormWeight ? 1 : 0) + (rng.uniform() * 2 - 1) * bound;
    arrays.set(name, { data, shape: [...shape] });
  }
  return arrays;
}

/** An in-memory WeightFile, so random weights go through the same key mapping as real files. */
function memoryWeightFile(arrays: Map<string, ParamArray>, path: string): WeightFile {
  const get = (n: string): ParamArray => {
    const a = arrays.get(n);
    if (!a) throw new Error(`${path}: no tensor ${n}`);
    return a;
  };
  return {
    path,
    format: 'safetensors',
    tensors: new Map([...arrays].map(([name, a]) => [name, { name, dtype: 'float32' as const, shape: a.shape }])),
    float32: (n) => get(n).data,
    int64: (n) => {
      throw new Error(`${path}: ${n} is float32`);
    },
    raw: (n) => new Uint8Array(get(n).data.buffer),
    close: () => undefined,
  };
}

/** CLIP in the engine's canonical naming (q/k/v split), from OpenAI-named random tensors. */
export function randomClipParams(h: ClipHyper = VIT_B_32, seed = 1): ParamStore {
  return canonicalClipParams(memoryWeightFile(fill(clipTensors(h), seed), `random CLIP (${h.visionWidth}/${h.visionLayers} vision, ${h.textWidth}/${h.textLayers} text)`), () =>
    randomClipParams(h, seed),
  );
}

/** taming VQModel weights with the checkpoint's key names; the encoder only when asked for. */
export function randomVqganParams(opts: { hyper?: VqganHyper; encoder?: boolean; seed?: number } = {}): ParamStore {
  const h = opts.hyper ?? F16_16384;
  const keep = (t: ExpectedTensor) => opts.encoder !== false || !(t.name.startsWith('encoder.') || t.name.startsWith('quant_conv.'));
  const arrays = () => fill(vqganTensors(h).filter(keep), opts.seed ?? 2);
  return new ParamStore(arrays(), `random VQGAN (ch ${h.ch}, mult ${h.chMult.join(',')})`, arrays);
}
