/** Shared set-up of the generation tests: the tiny fixture models (CLIP input 64, VQGAN factor 4). */
import sharp from 'sharp';
import { fixture } from '../../helpers/fixtures.ts';
import { DEFAULT_AUGMENTS } from '../../../src/engine/generate/cutouts.ts';
import { Engine, loadModels, type Models } from '../../../src/engine/generate/generator.ts';
import { Graph, Session, serialize } from '../../../src/engine/graph/index.ts';
import type { GenerateSettings } from '../../../src/engine/generate/settings.ts';

export const CLIP_DIR = fixture('clip-openai');
export const VQGAN_DIR = fixture('vqgan');

let models: Promise<Models> | undefined;
export function tinyModels(): Promise<Models> {
  models ??= loadModels(CLIP_DIR, VQGAN_DIR);
  return models;
}

/** One ONNX Runtime thread: the test files run two at a time on a small machine. */
export async function tinyEngine(): Promise<Engine> {
  return new Engine(await tinyModels(), 'cpu', 1);
}

/** 64×64, 4 cutouts of the original method (no augments: the cheapest step graph), Adam 0.1. */
export function base(over: Partial<GenerateSettings> = {}): GenerateSettings {
  return {
    prompts: [{ text: 'a red apple', weight: 1, stop: -Infinity }],
    imagePrompts: [],
    noisePrompts: [],
    width: 64,
    height: 64,
    steps: 3,
    seed: 7,
    cutn: 4,
    cutMethod: 'original',
    cutPow: 1,
    augments: DEFAULT_AUGMENTS.original,
    lr: 0.1,
    optimiser: 'Adam',
    initWeight: 0,
    saveEvery: 0,
    timelapse: false,
    ...over,
  };
}

/** The decoded RGB pixels of a PNG (text chunks ignored). */
export async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

/** CLIP image embedding of a PNG, through a graph of its own (not the step graph). */
export async function embedPng(engine: Engine, png: Buffer): Promise<Float32Array> {
  const { clip } = engine.models;
  await clip.params.load(); // the engine drops its JS copy of the weights between graph builds
  const r = clip.inputSize;
  const rgb = await sharp(png).removeAlpha().resize(r, r, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
  const chw = new Float32Array(3 * r * r);
  for (let p = 0; p < r * r; p++) for (let c = 0; c < 3; c++) chw[c * r * r + p] = rgb[p * 3 + c]! / 255;
  const g = new Graph();
  const x = g.input('image', [1, 3, r, r]);
  g.output(clip.encodeImage(g, clip.normalize(g, x)), 'embed');
  const session = await Session.create(serialize(g), { device: 'cpu', threads: 1 });
  try {
    return (await session.run({ image: chw })).embed as Float32Array;
  } finally {
    await session.release();
  }
}
