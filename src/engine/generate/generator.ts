import { collectGarbage } from '../collect-garbage.ts';
import { Graph, Session, add, memoryOptions, serialize, type Device, type HostArray, type MemoryMode } from '../graph/index.ts';
import { ClipModel, eotPositions } from '../models/clip.ts';
import type { ParamStore } from '../models/params.ts';
import { ClipTokenizer } from '../models/tokenizer.ts';
import { VqganModel } from '../models/vqgan.ts';
import { BigganPainter } from './biggan-painter.ts';
import { BigganModels } from './biggan-models.ts';
import { sampleCutouts, type CutoutSpec } from './cutouts.ts';
import { chwToRgb, encodePng, loadImageCHW, shrinkFrame, timelapse } from './images.ts';
import { createOptimiser } from './optimisers.ts';
import type { Painter } from './painter.ts';
import { Prng } from './prng.ts';
import type { GenerateSettings } from './settings.ts';
import { SirenPainter, type SirenShape } from './siren-painter.ts';
import { buildEncodeGraph, buildImageEmbedGraph, buildPainterStepGraph, buildRenderGraph, buildStepGraph } from './step-graph.ts';
import { VqganPainter } from './vqgan-painter.ts';

export interface Models {
  clip: ClipModel;
  vqgan: VqganModel;
  tokenizer: ClipTokenizer;
  /** BigGAN-deep folders, loaded on first use (absent: BigGAN requests fail with a clear message) */
  biggan?: BigganModels;
  /** the SIREN network's shape (default deep-daze's 16 × 256) */
  siren?: Partial<SirenShape>;
}

export interface ExtraModels {
  /** the configured BigGAN-deep folder (its siblings biggan-deep-{128,256,512} serve the other sizes) */
  bigganDir?: string;
  siren?: Partial<SirenShape>;
}

export async function loadModels(clipDir: string, vqganDir: string, extra: ExtraModels = {}): Promise<Models> {
  const [clip, vqgan, tokenizer] = await Promise.all([ClipModel.load(clipDir), VqganModel.load(vqganDir), ClipTokenizer.load(clipDir)]);
  return { clip, vqgan, tokenizer, ...(extra.bigganDir ? { biggan: new BigganModels(extra.bigganDir) } : {}), ...(extra.siren ? { siren: extra.siren } : {}) };
}

export interface EngineState {
  /** steps completed; the next step to run */
  step: number;
  z: Float32Array;
  zShape: number[];
  optimiser: { name: string; state: Record<string, Float32Array | number> };
  rng: number[];
}

export interface StepReport {
  step: number;
  steps: number;
  loss: number;
  similarity: number;
  itPerSec: number;
  etaSec: number;
}

export interface GenerateHooks {
  signal?: AbortSignal;
  resume?: EngineState;
  onProgress?(p: StepReport): void;
  /** every saveEvery steps: the picture at that step and the state to resume after it */
  onSnapshot?(s: { step: number; png: Buffer; state: EngineState }): void;
  /** called when aborted for shutdown, with the state to resume from */
  onAbortState?(state: EngineState): void;
}

export interface GenerateResult {
  png: Buffer;
  width: number;
  height: number;
  timelapseWebp?: Buffer;
  timelapseGif?: Buffer;
  finalZ: { data: Float32Array; shape: number[] };
  metadata: Record<string, unknown>;
  timings: { buildMs: number; sessionMs: number; stepMs: number[] };
}

export class AbortedError extends Error {
  override name = 'AbortedError';
  constructor(readonly reason: unknown) {
    super('generation cancelled');
  }
}

const MAX_TEXT_PROMPTS_SLOTS = 8;
/** checkpoint keys of a painter's own state, kept beside the optimiser's */
const AUX = 'painter.';
const MODEL_TITLES = { vqgan: 'VQGAN+CLIP', biggan: 'BigGAN+CLIP', siren: 'SIREN+CLIP' } as const;

/** Owns the ONNX Runtime sessions of one device; builds each graph once per shape and reuses it. */
export class Engine {
  private readonly sessions = new Map<string, Promise<{ session: Session; buildMs: number; sessionMs: number; nodeCount: number }>>();

  /**
   * @param maxSessions sessions kept alive (least recently used released first): each holds its own
   *   copy of the weights and working memory, and users can ask for many sizes and cutout counts.
   *   A job uses at most one at a time after its start, so 3 leaves room for text + step + one more.
   */
  constructor(
    readonly models: Models,
    readonly device: Device = 'cpu',
    readonly threads?: number,
    readonly maxSessions = 3,
    /** drop the JS copies of the weights between graph builds (they are read again when needed) */
    readonly releaseWeights = true,
    /** ENGINE_MEMORY: ORT's CPU arena and pre-packed weights (fast), or neither (lean) */
    readonly memory: MemoryMode = 'fast',
  ) {}

  private building = 0;

  /** Creates a tiny session on the device, so a missing CUDA runtime fails at start, not at the first job. */
  async probeDevice(): Promise<void> {
    const g = new Graph();
    g.output(add(g.input('x', [1]), 1), 'y');
    const s = await Session.create(serialize(g), { device: this.device, threads: 1 });
    await s.run({ x: Float32Array.of(1) });
    await s.release();
  }

  private session(key: string, build: () => { model: import('../graph/index.ts').SerializedModel; buildMs: number; nodeCount: number }, params: readonly ParamStore[] = [this.models.clip.params]) {
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key); // re-insert: Map order is the recency order
      this.sessions.set(key, s);
      return s;
    }
    while (this.sessions.size >= this.maxSessions) {
      const [oldKey, old] = this.sessions.entries().next().value!;
      this.sessions.delete(oldKey);
      void old.then((o) => o.session.release()).catch(() => undefined);
    }
    s = (async () => {
      this.building++;
      try {
        await Promise.all(params.map((p) => p.load()));
        const built = build();
        const t0 = performance.now();
        const session = await Session.create(built.model, { device: this.device, ...memoryOptions(this.memory), ...(this.threads ? { threads: this.threads } : {}) });
        return { session, buildMs: built.buildMs, sessionMs: performance.now() - t0, nodeCount: built.nodeCount };
      } finally {
        // ONNX Runtime holds its own copy now: the next graph reads the weights again
        if (--this.building === 0 && this.releaseWeights && params.map((p) => p.release()).some(Boolean)) collectGarbage();
      }
    })();
    s.catch(() => this.sessions.delete(key));
    this.sessions.set(key, s);
    return s;
  }

  /** Number of live sessions (tests, metrics). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** CLIP text embeddings [P, D] of the prompts; reports which were truncated to the context length. */
  async embedTexts(texts: string[]): Promise<{ embeds: Float32Array; truncated: boolean[] }> {
    const { clip, tokenizer } = this.models;
    const ctx = clip.config.text.contextLength;
    const tok = tokenizer.tokenize(texts, ctx);
    const { session } = await this.session(`text:${texts.length}`, () => {
      const t0 = performance.now();
      const g = new Graph();
      const ids = g.input('tokens', [texts.length, ctx], 'int64');
      const eot = g.input('eot', [texts.length], 'int64');
      g.output(clip.encodeText(g, ids, eot), 'embeds');
      const model = serialize(g);
      return { model, buildMs: performance.now() - t0, nodeCount: model.nodeCount };
    });
    const out = await session.run({ tokens: tok.ids, eot: eotPositions(tok.ids, texts.length, ctx) });
    return { embeds: out.embeds as Float32Array, truncated: tok.truncated };
  }

  async stepSession(spec: { zShape: [number, number, number, number]; cut: CutoutSpec; targets: number }) {
    const key = `step:${spec.zShape.join('x')}:${JSON.stringify(spec.cut)}:${spec.targets}`;
    return this.session(key, () => buildStepGraph(this.models.clip, this.models.vqgan, spec), [this.models.clip.params, this.models.vqgan.params]);
  }

  /** The generator a job paints with (settings.model, default VQGAN). */
  async painter(s: GenerateSettings): Promise<Painter> {
    const { clip } = this.models;
    switch (s.model ?? 'vqgan') {
      case 'vqgan':
        return new VqganPainter(clip, this.models.vqgan, s, async (image, width, height) => {
          const { session } = await this.session(`encode:${width}x${height}`, () => buildEncodeGraph(this.models.vqgan, width, height), [this.models.vqgan.params]);
          return (await session.run({ image })).z as Float32Array;
        });
      case 'biggan': {
        if (!this.models.biggan) throw new Error('no BigGAN-deep model is configured (BIGGAN_MODEL)');
        return new BigganPainter(clip, await this.models.biggan.forSize(s.width), s);
      }
      case 'siren':
        return new SirenPainter(clip, s, this.models.siren);
    }
  }

  async generate(settingsIn: GenerateSettings, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    const { clip } = this.models;
    const painter = await this.painter(settingsIn);
    const { width, height, cut } = painter;
    const s = { ...settingsIn, width, height };
    const zShape = [...painter.varShape];
    const zSize = zShape.reduce((a, b) => a * b, 1);
    const D = clip.config.embedDim;

    // The seed is taken before anything random happens, so it fixes the start as well as every step.
    const rng = hooks.resume ? new Prng(hooks.resume.rng) : new Prng(s.seed);
    const { targets, sign, coef, stop, slots, similarityRow } = await this.targets(s, cut, painter.rowScale);

    // Initial variables.
    let z: Float32Array;
    let startStep = 0;
    const opt = createOptimiser(s.optimiser, s.lr, zSize, { shapes: painter.paramShapes });
    if (hooks.resume) {
      if (hooks.resume.z.length !== zSize) throw new Error(`checkpoint latent has ${hooks.resume.z.length} values, this job needs ${zSize}`);
      z = hooks.resume.z.slice();
      opt.load(hooks.resume.optimiser.state);
      const aux = Object.fromEntries(Object.entries(hooks.resume.optimiser.state).filter(([k]) => k.startsWith(AUX)).map(([k, v]) => [k.slice(AUX.length), v]));
      painter.loadAux?.(aux);
      startStep = hooks.resume.step;
    } else {
      z = await painter.init(rng);
    }

    const step = await this.session(`step:${painter.key}:${zShape.join('x')}:${JSON.stringify(cut)}:${slots}`, () => buildPainterStepGraph(clip, painter, { cut, targets: slots }), painter.params);
    const render = painter.shown ? await this.session(`render:${painter.key}`, () => buildRenderGraph(painter), painter.params) : undefined;
    const stepMs: number[] = [];
    const frames: Buffer[] = [];
    let frameSize = { width, height };
    const state = (n: number): EngineState => {
      const aux = painter.auxState?.() ?? {};
      const optState: Record<string, Float32Array | number> = { ...opt.state() };
      for (const [k, v] of Object.entries(aux)) optState[AUX + k] = v;
      return { step: n, z: z.slice(), zShape: [...zShape], optimiser: { name: opt.name, state: optState }, rng: rng.state() };
    };
    const run = async (i: number, withCutouts: boolean) => {
      const feeds: Record<string, HostArray> = {
        z,
        targets,
        target_sign: sign,
        target_coef: coef,
        target_stop: stop,
        ...painter.feeds?.(i),
        ...sampleCutouts(withCutouts ? rng : new Prng(s.seed + i), cut),
      };
      return step.session.run(feeds);
    };
    /** the picture shown after `i` steps: the painter's own (an EMA) or the given step image */
    const shownImage = async (stepImage: Float32Array): Promise<Float32Array> =>
      render && painter.shown ? ((await render.session.run({ z: painter.shown(z) })).image as Float32Array) : stepImage;

    for (let i = startStep; i < s.steps; i++) {
      // session.run blocks this thread for a whole step, so a cancel message (or Ctrl-C) that came during
      // the step is only seen once the event loop turns: let it turn before looking at the signal, or
      // the next step (already queued by ONNX Runtime's setImmediate) would run too.
      if (hooks.signal) await new Promise<void>((resolve) => setImmediate(resolve));
      if (hooks.signal?.aborted) {
        hooks.onAbortState?.(state(i));
        throw new AbortedError(hooks.signal.reason);
      }
      const t0 = performance.now();
      const out = await run(i, true);
      let grad = out.grad_z as Float32Array;
      let loss = (out.loss as Float32Array)[0]!;
      if (painter.accumulate > 1) {
        // deep-daze: loss / n backpropagated n times with fresh cutouts, one optimiser step
        grad = grad.slice();
        for (let k = 1; k < painter.accumulate; k++) {
          const more = await run(i, true);
          const gk = more.grad_z as Float32Array;
          for (let p = 0; p < grad.length; p++) grad[p] = grad[p]! + gk[p]!;
          loss += (more.loss as Float32Array)[0]!;
        }
        const inv = 1 / painter.accumulate;
        for (let p = 0; p < grad.length; p++) grad[p] = grad[p]! * inv;
        loss *= inv;
      }
      opt.step(z, grad);
      painter.afterStep?.(z);
      const ms = performance.now() - t0;
      stepMs.push(ms);
      const recent = stepMs.slice(-10);
      const avg = recent.reduce((a, b) => a + b, 0) / recent.length;
      hooks.onProgress?.({
        step: i + 1,
        steps: s.steps,
        loss,
        similarity: similarity(out.embeds as Float32Array, targets, similarityRow, s.cutn, D),
        itPerSec: 1000 / avg,
        etaSec: ((s.steps - i - 1) * avg) / 1000,
      });
      if (s.saveEvery > 0 && i % s.saveEvery === 0) {
        const rgb = chwToRgb(await shownImage(out.image as Float32Array), width, height);
        if (s.timelapse) {
          const f = await shrinkFrame(rgb, width, height, 256);
          frames.push(f.data);
          frameSize = { width: f.width, height: f.height };
        }
        if (hooks.onSnapshot) hooks.onSnapshot({ step: i, png: await encodePng(rgb, width, height), state: state(i + 1) });
      }
    }

    // The final picture: of the last variables (the forward of one more step, no update), or the painter's own.
    const finalImage = render ? await shownImage(new Float32Array(0)) : ((await run(s.steps, false)).image as Float32Array);
    const rgb = chwToRgb(finalImage, width, height);
    const model = painter.model;
    const metadata: Record<string, unknown> = {
      prompt: s.prompts.map((p) => (p.weight === 1 && p.stop === -Infinity ? p.text : `${p.text}:${p.weight}${p.stop === -Infinity ? '' : `:${p.stop}`}`)).join(' | '),
      model,
      seed: s.seed,
      steps: s.steps,
      width,
      height,
      cutn: s.cutn,
      lr: s.lr,
      optimiser: s.optimiser,
      ...painter.metadata(),
      device: this.device,
      software: 'Reverie',
    };
    const png = await encodePng(rgb, width, height, {
      prompt: String(metadata.prompt),
      seed: String(s.seed),
      settings: JSON.stringify(metadata),
      Software: `Reverie (${MODEL_TITLES[model]})`,
    });
    let tl: { webp: Buffer; gif: Buffer } | undefined;
    if (s.timelapse) {
      const last = await shrinkFrame(rgb, width, height, 256);
      frames.push(last.data);
      frameSize = { width: last.width, height: last.height };
      tl = await timelapse(frames, frameSize.width, frameSize.height);
    }
    return {
      png,
      width,
      height,
      ...(tl ? { timelapseWebp: tl.webp, timelapseGif: tl.gif } : {}),
      finalZ: { data: z, shape: [...zShape] },
      metadata,
      timings: { buildMs: step.buildMs, sessionMs: step.sessionMs, stepMs },
    };
  }

  /** The target rows (text, image and noise prompts) padded to a multiple of 8 slots. */
  private async targets(s: GenerateSettings, cut: CutoutSpec, rowScale: number) {
    const { clip } = this.models;
    const D = clip.config.embedDim;
    const rows: { embed: Float32Array; sign: number; coef: number; stop: number }[] = [];
    const texts = s.prompts;
    if (texts.length) {
      const { embeds } = await this.embedTexts(texts.map((p) => p.text));
      texts.forEach((p, i) => rows.push({ embed: embeds.subarray(i * D, (i + 1) * D), sign: Math.sign(p.weight), coef: Math.abs(p.weight) * rowScale, stop: p.stop }));
    }
    if (s.imagePrompts.length) {
      const { session } = await this.session(`imgembed:${JSON.stringify(cut)}`, () => buildImageEmbedGraph(clip, cut), [clip.params]);
      const promptRng = new Prng(s.seed ^ 0x5bd1e995);
      for (const ip of s.imagePrompts) {
        const image = await loadImageCHW(ip.source, cut.width, cut.height);
        const out = await session.run({ image, ...sampleCutouts(promptRng, cut) });
        const e = out.embeds as Float32Array;
        for (let c = 0; c < s.cutn; c++) {
          rows.push({ embed: e.subarray(c * D, (c + 1) * D), sign: Math.sign(ip.weight), coef: (Math.abs(ip.weight) * rowScale) / s.cutn, stop: ip.stop });
        }
      }
    }
    for (const np of s.noisePrompts) {
      const embed = new Prng(np.seed).fillNormal(new Float32Array(D));
      rows.push({ embed, sign: Math.sign(np.weight), coef: Math.abs(np.weight) * rowScale, stop: -Infinity });
    }
    if (!rows.length) throw new Error('nothing to paint towards: give a text, image or noise prompt');
    const slots = Math.max(MAX_TEXT_PROMPTS_SLOTS, Math.ceil(rows.length / MAX_TEXT_PROMPTS_SLOTS) * MAX_TEXT_PROMPTS_SLOTS);
    const targets = new Float32Array(slots * D);
    const sign = new Float32Array(slots);
    const coef = new Float32Array(slots);
    const stop = new Float32Array(slots).fill(-Infinity);
    rows.forEach((r, i) => {
      targets.set(r.embed, i * D);
      sign[i] = r.sign;
      coef[i] = r.coef;
      stop[i] = r.stop;
    });
    return { targets, sign, coef, stop, slots, similarityRow: Math.max(0, rows.findIndex((r) => r.sign > 0)) };
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) {
      try {
        await (await s).session.release();
      } catch {
        // a session that failed to build has nothing to release
      }
    }
    this.sessions.clear();
  }
}

/** Mean cosine similarity of the cutout embeddings with one target row. */
function similarity(embeds: Float32Array, targets: Float32Array, row: number, cutn: number, D: number): number {
  const t = targets.subarray(row * D, (row + 1) * D);
  let tn = 0;
  for (let k = 0; k < D; k++) tn += t[k]! ** 2;
  let sum = 0;
  for (let c = 0; c < cutn; c++) {
    let dot = 0;
    let en = 0;
    for (let k = 0; k < D; k++) {
      const e = embeds[c * D + k]!;
      dot += e * t[k]!;
      en += e * e;
    }
    sum += dot / Math.sqrt(en * tn || 1);
  }
  return sum / cutn;
}
