/**
 * GPU readiness without a GPU: every ONNX node of every graph the engine builds (step graphs for each cut
 * method with and without the warp augments, image-embed, encode, text, the device probe) has a kernel in
 * ONNX Runtime's CUDA execution provider for its op type, opset and input dtypes, by the table kept in
 * src/engine/graph/cuda-kernels.json. A node without one would fall back to the CPU (and, as CUDA
 * sessions disable fallback, stop the session from being created).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onSerialize, type EmittedNode } from '../../../src/engine/graph/index.ts';
import { cudaFallbackReason, cudaFallbacks, cudaKernelTable } from '../../../src/engine/graph/cuda-kernels.ts';
import { AUGMENTS, DEFAULT_AUGMENTS, type Augment, type CutMethod, type CutoutSpec } from '../../../src/engine/generate/cutouts.ts';
import { Engine } from '../../../src/engine/generate/generator.ts';
import { buildEncodeGraph, buildImageEmbedGraph, buildStepGraph } from '../../../src/engine/generate/step-graph.ts';
import { ClipModel, inferClipConfig } from '../../../src/engine/models/clip.ts';
import { randomClipParams, randomVqganParams } from '../../../src/engine/models/random-weights.ts';
import { VqganModel } from '../../../src/engine/models/vqgan.ts';
import { tinyModels } from './helpers.ts';

const SLOW = process.env.REVERIE_SLOW_TESTS === '1';

const node = (opType: string, dtypes: (EmittedNode['inputs'][number]['dtype'] | null)[], opset = 18): EmittedNode => ({
  name: `${opType}_0`,
  opType,
  domain: '',
  opset,
  inputs: dtypes.map((dtype, i) => (dtype === null ? { name: '', dtype: undefined } : { name: `i${i}`, dtype })),
});

describe('the CUDA kernel table', () => {
  it('records where it came from', () => {
    const { source } = cudaKernelTable();
    expect(source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(source.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('flags what the CUDA provider lacks: Asin, an opset past a kernel range, a dtype outside it', () => {
    expect(cudaFallbackReason(node('Asin', ['float32']))).toMatch(/no CUDA kernel for ai.onnx.Asin/);
    expect(cudaFallbackReason(node('Pad', ['int64', 'int64', 'int64']))).toMatch(/Pad .*\(int64, int64, int64\)/);
    expect(cudaFallbackReason(node('Resize', ['float32', null, 'float32'], 10))).toBeNull();
    expect(cudaFallbackReason(node('Upsample', ['float32', 'float32'], 18))).toMatch(/opset 18/);
    expect(cudaFallbackReason(node('Add', ['float32', undefined]))).toMatch(/no known dtype/);
  });

  it('has the float64 kernels of the gather adjoint (Cast, CumSum, Gather, Sub, Concat in double)', () => {
    const fallbacks = cudaFallbacks([
      node('Cast', ['float32']),
      node('Cast', ['float64']),
      node('CumSum', ['float64', 'int64']),
      node('Gather', ['float64', 'int64']),
      node('Sub', ['float64', 'float64']),
      node('Concat', ['float64', 'float64', 'float64']),
      node('Slice', ['float64', 'int64', 'int64', 'int64']),
    ]);
    expect(fallbacks).toEqual([]);
  });

  it('has the kernels of the in-graph warp taps, their sort and the hashed noise', () => {
    const fallbacks = cudaFallbacks([
      node('TopK', ['int64', 'int64']),
      node('Compress', ['int64', 'bool']),
      node('CumSum', ['int64', 'int64']),
      node('Pad', ['float64', 'int64', 'float64']),
      node('Floor', ['float64']),
      node('Div', ['float64', 'float64']),
      node('Where', ['bool', 'float64', 'float64']),
      node('Div', ['int64', 'int64']),
      node('Mul', ['int64', 'int64']),
      node('Log', ['float64']),
      node('Sqrt', ['float64']),
    ]);
    expect(fallbacks).toEqual([]);
    expect(cudaFallbackReason(node('BitwiseXor', ['int64', 'int64']))).toMatch(/no CUDA kernel/);
  });
});

describe('every graph the engine builds runs on CUDA without CPU fallback', () => {
  const seen: { graph: string; nodes: EmittedNode[] }[] = [];
  let stop: () => void = () => undefined;
  beforeAll(() => {
    stop = onSerialize((nodes, name) => seen.push({ graph: name, nodes }));
  });
  afterAll(() => stop());

  const check = (label: string) => {
    expect(seen.length, `${label}: no graph was serialised`).toBeGreaterThan(0);
    const problems = seen.flatMap((s) => cudaFallbacks(s.nodes).map((f) => `${label} (${s.graph}) node ${f.node}: ${f.reason}`));
    seen.length = 0;
    expect(problems).toEqual([]);
  };

  const warps: Augment[] = ['Pe', 'Ro', 'Af', 'Re', 'Hf', 'Cr'];
  const augmentSets: [string, Augment[]][] = [
    ['no augments', []],
    ['no warp augments', AUGMENTS.filter((a) => !warps.includes(a))],
    ['every augment', [...AUGMENTS]],
  ];
  const methods: CutMethod[] = ['original', 'updated', 'latest'];

  for (const method of methods) {
    for (const [label, augments] of [...augmentSets, ['default augments', DEFAULT_AUGMENTS[method]] as [string, Augment[]]]) {
      it(`step graph: ${method}, ${label}`, async () => {
        const { clip, vqgan } = await tinyModels();
        const f = vqgan.config.factor;
        const cut: CutoutSpec = { method, cutn: 3, cutSize: clip.inputSize, cutPow: 1, augments, width: 48, height: 32 };
        buildStepGraph(clip, vqgan, { zShape: [1, vqgan.config.embedDim, 32 / f, 48 / f], cut, targets: 2 });
        check(`step ${method}/${label}`);
      });
    }
    it(`image-embed graph: ${method}, every augment`, async () => {
      const { clip } = await tinyModels();
      buildImageEmbedGraph(clip, { method, cutn: 3, cutSize: clip.inputSize, cutPow: 1, augments: [...AUGMENTS], width: 48, height: 32 });
      check(`image-embed ${method}`);
    });
  }

  it('encode graph (init images)', async () => {
    const { vqgan } = await tinyModels();
    buildEncodeGraph(vqgan, 48, 32);
    check('encode');
  });

  // ViT-B/32 + f16_16384 with random weights, 256², cutn 32 (the bench's shapes): about 45 s of CPU
  it.runIf(SLOW)('real sizes: step graphs of each cut method, image-embed, encode (REVERIE_SLOW_TESTS=1)', async () => {
    const clipParams = randomClipParams();
    const clip = new ClipModel(clipParams, inferClipConfig(clipParams, { visionHeads: 12, textHeads: 8 }));
    const vqgan = new VqganModel(randomVqganParams());
    const zShape = [1, vqgan.config.embedDim, 256 / vqgan.config.factor, 256 / vqgan.config.factor] as const;
    for (const method of methods) {
      const cut: CutoutSpec = { method, cutn: 32, cutSize: clip.inputSize, cutPow: 1, augments: DEFAULT_AUGMENTS[method], width: 256, height: 256 };
      buildStepGraph(clip, vqgan, { zShape, cut, targets: 8 });
      check(`real-size step ${method}`);
    }
    buildImageEmbedGraph(clip, { method: 'latest', cutn: 32, cutSize: clip.inputSize, cutPow: 1, augments: [...AUGMENTS], width: 256, height: 256 });
    buildEncodeGraph(vqgan, 256, 256);
    check('real-size image-embed, encode');
  }, 600_000);

  it('text graph and device probe, as the engine builds them', async () => {
    const engine = new Engine(await tinyModels(), 'cpu', 1);
    await engine.probeDevice();
    await engine.embedTexts(['a red apple', 'a green pear']);
    check('engine');
  });
});
