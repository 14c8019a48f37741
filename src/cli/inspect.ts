/**
 * `imagine inspect <what> ...`: runs one piece of the CLIP / VQGAN models on .npy inputs and writes the
 * result as .npy, to check this engine (or a converted or fine-tuned model) against PyTorch outputs.
 *
 *   inspect tokens --clip DIR --out t.npy "prompt" ["prompt"...]            int64 [P,ctx]
 *   inspect text   --clip DIR --out e.npy "prompt" ["prompt"...]            float32 [P,D]  encode_text
 *   inspect image  --clip DIR --image x.npy --out e.npy                     float32 [N,D]  encode_image
 *   inspect decode --vqgan DIR --z z.npy [--quantize] --out y.npy           float32 [B,3,H,W] raw decoder output
 *   inspect encode --vqgan DIR --image x.npy [--quantize] --out z.npy       float32 [B,E,h,w] quant_conv(encoder(2x−1))
 *   inspect grad   --clip DIR --vqgan DIR --z z.npy --text "prompt" --out g.npy   d loss/d z (prints the loss)
 *   inspect siren  --siren DIR --probe p.npy --out img.npy --grads DIR       SIREN image + d sum(image·p)/d weights (inspect-siren.ts)
 *   inspect mel | whisper-encode | whisper-logits | whisper-tokens | transcribe    Whisper (see inspect-whisper.ts)
 *   inspect biggan / bigsleep ...                                           BigGAN-deep: see inspect-biggan.ts
 *
 * Errors are one line on stderr; exit code 2 for a wrong command line, 1 for anything else.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Graph, add, clampWithGrad, div, grad, reshape, type Tensor } from '../engine/graph/index.ts';
import { sphericalDistance } from '../engine/losses.ts';
import { ClipModel, eotPositions } from '../engine/models/clip.ts';
import { findClipFiles } from '../engine/models/clip-weights.ts';
import { fullFrameCutout } from '../engine/models/clip-preprocess.ts';
import { ClipTokenizer } from '../engine/models/tokenizer.ts';
import { VqganModel } from '../engine/models/vqgan.ts';
import { listTensors } from '../engine/weights/index.ts';
import { command, deviceOf, fmtShape, folder, readArray, run, save, type Command, type InspectIo } from './inspect-common.ts';
import { WHISPER_COMMANDS } from './inspect-whisper.ts';
import { BIGGAN_COMMANDS } from './inspect-biggan.ts';
import { CliError, UsageError, formatOptions, parseArgs, describeError, runCli, type OptionSpecs } from './args.ts';
import { sirenInspectCommand } from './inspect-siren.ts';

const DEFAULT_CONTEXT = 77;
type Io = InspectIo;

const common = {
  out: { type: 'string', required: true, valueName: 'FILE', help: 'where to write the .npy result' },
  device: { type: 'string', valueName: 'DEV', help: 'cpu (default) or cuda:N' },
} as const satisfies OptionSpecs;
const clipOpt = { clip: { type: 'string', required: true, valueName: 'DIR', help: 'CLIP model folder (open_clip/OpenAI or Hugging Face layout)' } } as const satisfies OptionSpecs;
const vqganOpt = { vqgan: { type: 'string', required: true, valueName: 'DIR', help: 'VQGAN model folder (taming .ckpt + model.yaml)' } } as const satisfies OptionSpecs;
const quantizeOpt = { quantize: { type: 'boolean', help: 'snap the latent to its nearest codebook vectors' } } as const satisfies OptionSpecs;

const COMMANDS = {
  tokens: command({
    summary: 'CLIP tokenizer ids, int64 [P,ctx]',
    usage: 'inspect tokens --clip DIR --out t.npy "prompt" ["prompt"...]',
    spec: { ...clipOpt, out: common.out },
    positionals: { min: 1, max: Infinity, name: 'prompt' },
    async run(o, prompts, io) {
      const dir = clipFolder(o.clip);
      const tokenizer = await loadTokenizer(dir);
      const ctx = await contextLength(dir);
      const t = tokenize(tokenizer, prompts, ctx, io);
      save(o.out, { dtype: 'int64', shape: t.shape, data: t.ids }, io);
    },
  }),
  text: command({
    summary: 'encode_text of the prompts, float32 [P,D]',
    usage: 'inspect text --clip DIR --out e.npy "prompt" ["prompt"...]',
    spec: { ...clipOpt, ...common },
    positionals: { min: 1, max: Infinity, name: 'prompt' },
    async run(o, prompts, io) {
      const dir = clipFolder(o.clip);
      const device = deviceOf(o.device);
      const tokenizer = await loadTokenizer(dir);
      const clip = await ClipModel.load(dir);
      const t = tokenize(tokenizer, prompts, clip.config.text.contextLength, io);
      checkVocab(tokenizer, clip);
      const g = new Graph();
      const tokens = g.input('tokens', t.shape, 'int64');
      const eot = g.input('eot', [t.shape[0]], 'int64');
      g.output(clip.encodeText(g, tokens, eot), 'text');
      const r = await run(g, { tokens: t.ids, eot: eotPositions(t.ids, t.shape[0], t.shape[1]) }, device);
      save(o.out, { dtype: 'float32', shape: [t.shape[0], clip.config.embedDim], data: r.text as Float32Array }, io);
    },
  }),
  image: command({
    summary: 'encode_image of [N,3,R,R] pixels in [0,1] (CLIP normalisation applied, no resizing), float32 [N,D]',
    usage: 'inspect image --clip DIR --image x.npy --out e.npy',
    spec: { ...clipOpt, image: { type: 'string', required: true, valueName: 'FILE', help: '.npy float32 [N,3,R,R] in [0,1], R = the CLIP input size' }, ...common },
    async run(o, _p, io) {
      const dir = clipFolder(o.clip);
      const device = deviceOf(o.device);
      const x = readArray(o.image, 'image');
      const clip = await ClipModel.load(dir);
      const r = clip.inputSize;
      const [n] = x.shape;
      if (x.shape.length !== 4 || !n || x.shape[1] !== 3 || x.shape[2] !== r || x.shape[3] !== r) {
        throw new CliError(
          `${o.image}: image has shape ${fmtShape(x.shape)}, expected [N,3,${r},${r}] (N RGB images at this CLIP's input size ${r}×${r}, values in [0,1]; inspect image does not resize)`,
        );
      }
      warnRange(x.data, 0, 1, o.image, 'inspect image expects pixels in [0,1] (before CLIP normalisation)', io);
      const g = new Graph();
      const xi = g.input('image', x.shape);
      g.output(clip.encodeImage(g, clip.normalize(g, xi)), 'embed');
      const out = await run(g, { image: x.data }, device);
      save(o.out, { dtype: 'float32', shape: [n, clip.config.embedDim], data: out.embed as Float32Array }, io);
    },
  }),
  decode: command({
    summary: 'decoder(post_quant_conv(z)), raw, float32 [B,3,H,W]',
    usage: 'inspect decode --vqgan DIR --z z.npy [--quantize] --out y.npy',
    spec: { ...vqganOpt, z: { type: 'string', required: true, valueName: 'FILE', help: '.npy float32 [B,E,h,w] latent' }, ...quantizeOpt, ...common },
    async run(o, _p, io) {
      const dir = vqganFolder(o.vqgan);
      const device = deviceOf(o.device);
      const z = readArray(o.z, 'latent');
      const vq = await VqganModel.load(dir);
      checkLatent(z, vq, o.z);
      const g = new Graph();
      const zi = g.input('z', z.shape);
      const y = vq.decode(g, o.quantize ? vq.quantize(g, zi).zq : zi);
      g.output(y, 'y');
      const out = await run(g, { z: z.data }, device);
      save(o.out, { dtype: 'float32', shape: y.shape, data: out.y as Float32Array }, io);
    },
  }),
  encode: command({
    summary: 'quant_conv(encoder(2x−1)) of [B,3,H,W] pixels in [0,1], or its codebook snap, float32 [B,E,H/f,W/f]',
    usage: 'inspect encode --vqgan DIR --image x.npy [--quantize] --out z.npy',
    spec: { ...vqganOpt, image: { type: 'string', required: true, valueName: 'FILE', help: '.npy float32 [B,3,H,W] in [0,1]' }, ...quantizeOpt, ...common },
    async run(o, _p, io) {
      const dir = vqganFolder(o.vqgan);
      const device = deviceOf(o.device);
      const x = readArray(o.image, 'image');
      const vq = await VqganModel.load(dir);
      const f = vq.config.factor;
      if (x.shape.length !== 4 || !x.shape[0] || x.shape[1] !== 3 || !x.shape[2] || !x.shape[3] || x.shape[2] % f || x.shape[3] % f) {
        throw new CliError(`${o.image}: image has shape ${fmtShape(x.shape)}, expected [B,3,H,W] with H and W multiples of ${f} (the VQGAN's downsampling factor), values in [0,1]`);
      }
      warnRange(x.data, 0, 1, o.image, 'inspect encode expects pixels in [0,1] (it applies 2x−1 itself)', io);
      const g = new Graph();
      const xi = g.input('x', x.shape);
      let z = vq.encode(g, add(div(xi, 0.5), -1));
      if (o.quantize) z = vq.quantize(g, z).zq;
      g.output(z, 'z');
      const out = await run(g, { x: x.data }, device);
      save(o.out, { dtype: 'float32', shape: z.shape, data: out.z as Float32Array }, io);
    },
  }),
  grad: command({
    summary: 'd loss/d z of the one-cutout VQGAN+CLIP loss (prints the loss), float32 [1,E,h,w]',
    usage: 'inspect grad --clip DIR --vqgan DIR --z z.npy --text "prompt" --out g.npy',
    spec: {
      ...clipOpt,
      ...vqganOpt,
      z: { type: 'string', required: true, valueName: 'FILE', help: '.npy float32 [1,E,h,w] latent' },
      text: { type: 'string', required: true, valueName: 'PROMPT', help: 'the prompt whose text embedding is the target' },
      ...common,
    },
    async run(o, _p, io) {
      const clipDir = clipFolder(o.clip);
      const vqDir = vqganFolder(o.vqgan);
      const device = deviceOf(o.device);
      const z = readArray(o.z, 'latent');
      const vq = await VqganModel.load(vqDir);
      checkLatent(z, vq, o.z);
      if (z.shape[0] !== 1) throw new CliError(`${o.z}: latent has shape ${fmtShape(z.shape)}, expected one latent [1,${vq.config.embedDim},h,w]`);
      const tokenizer = await loadTokenizer(clipDir);
      const clip = await ClipModel.load(clipDir);
      const t = tokenize(tokenizer, [o.text], clip.config.text.contextLength, io);
      checkVocab(tokenizer, clip);
      const g = new Graph();
      const zi = g.input('z', z.shape);
      const tokens = g.input('tokens', t.shape, 'int64');
      const eot = g.input('eot', [1], 'int64');
      const loss = reshape(oneCutoutLoss(g, clip, vq, zi, clip.encodeText(g, tokens, eot)).losses, []);
      const [gz] = grad(loss, [zi]);
      g.output(loss, 'loss');
      g.output(gz!, 'grad');
      const out = await run(g, { z: z.data, tokens: t.ids, eot: eotPositions(t.ids, 1, t.shape[1]) }, device);
      io.out(`loss ${(out.loss as Float32Array)[0]}`);
      save(o.out, { dtype: 'float32', shape: z.shape, data: out.grad as Float32Array }, io);
    },
  }),
  siren: sirenInspectCommand(),
  ...WHISPER_COMMANDS,
  ...BIGGAN_COMMANDS,
} satisfies Record<string, Command<any>>;

type CommandName = keyof typeof COMMANDS;

/**
 * The VQGAN+CLIP loss of one step with a single full-frame cutout, no augmentation and no noise:
 * straight-through quantise → decode → (x+1)/2 → clamp_with_grad(0,1) → full-frame cutout at the CLIP
 * input size (identity when the sizes agree) → CLIP normalise → encode_image → spherical distance to
 * `target` [1,D]. z [B,E,h,w] → losses [B] (and the raw decoder output [B,3,H,W]). `quantize: false`
 * decodes z as it is.
 */
export function oneCutoutLoss(
  g: Graph,
  clip: ClipModel,
  vq: VqganModel,
  z: Tensor,
  target: Tensor,
  opts: { quantize?: boolean } = {},
): { losses: Tensor; decoded: Tensor } {
  const zq = opts.quantize === false ? z : vq.quantize(g, z).zq;
  const decoded = vq.decode(g, zq);
  const pixels = clampWithGrad(div(add(decoded, 1), 2), 0, 1);
  const cut = fullFrameCutout(pixels, clip.inputSize);
  return { losses: sphericalDistance(clip.encodeImage(g, clip.normalize(g, cut)), target), decoded };
}

const USAGE = `Usage: npm run -s imagine -- inspect <what> [options]

Runs one piece of the models on .npy inputs and writes the result as .npy (to compare with PyTorch).
DIR is a model folder laid out like models/clip or models/vqgan; the weight format is detected.

${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}\n      ${c.summary}`)
  .join('\n')}

Commands that run a model take --device cpu|cuda:N. Run "inspect <what> --help" for details.
Exit codes: 0 ok, 1 runtime error (missing folder, missing weight, bad .npy), 2 usage error.`;

function commandHelp(name: CommandName): string {
  const c = COMMANDS[name] as Command<OptionSpecs>;
  return `Usage: npm run -s imagine -- ${c.usage}\n\n${c.summary}\n\nOptions:\n${formatOptions(c.spec)}`;
}

/** Entry point for `imagine inspect ...` (argv without "inspect"); returns the exit code, never throws. */
export async function inspectMain(argv: string[], io: InspectIo = defaultIo()): Promise<number> {
  const name = argv[0];
  const known = name !== undefined && Object.hasOwn(COMMANDS, name);
  const prefix = known ? `inspect ${name}` : 'inspect';
  try {
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      if (name === undefined) throw new UsageError(`missing what to inspect: one of ${Object.keys(COMMANDS).join(', ')} (see inspect --help)`);
      io.out(USAGE);
      return 0;
    }
    if (!known) throw new UsageError(`unknown subcommand "${name}": expected one of ${Object.keys(COMMANDS).join(', ')}`);
    const c = COMMANDS[name as CommandName] as Command<OptionSpecs>;
    const parsed = parseArgs(argv.slice(1), c.spec, c.positionals ? { positionals: c.positionals } : {});
    if (parsed.help) {
      io.out(commandHelp(name as CommandName));
      return 0;
    }
    await c.run(parsed.values, parsed.positionals, io);
    return 0;
  } catch (err) {
    const { text, exitCode } = describeError(prefix, err);
    io.error(text);
    return exitCode;
  }
}

function defaultIo(): Io {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    warn: (line) => process.stderr.write(`warning: ${line}\n`),
    error: (line) => process.stderr.write(`${line}\n`),
  };
}

// ---------------------------------------------------------------------------------------------- helpers

const clipFolder = (dir: string) => folder(dir, 'CLIP');
const vqganFolder = (dir: string) => folder(dir, 'VQGAN');

async function loadTokenizer(dir: string): Promise<ClipTokenizer> {
  try {
    return await ClipTokenizer.load(dir);
  } catch (err) {
    throw new CliError(`cannot load the CLIP tokenizer from ${dir}: ${(err as Error).message}`);
  }
}

/** The text context length from the weight file's header (no weights read); 77 when there is none. */
async function contextLength(dir: string): Promise<number> {
  let weights: string;
  try {
    weights = findClipFiles(dir).weights;
  } catch {
    return DEFAULT_CONTEXT;
  }
  const tensors = await listTensors(weights);
  const pos = tensors.get('positional_embedding') ?? tensors.get('text_model.embeddings.position_embedding.weight');
  return pos?.shape[0] ?? DEFAULT_CONTEXT;
}

function tokenize(tokenizer: ClipTokenizer, prompts: string[], ctx: number, io: Io) {
  const t = tokenizer.tokenize(prompts, ctx);
  t.truncated.forEach((cut, i) => {
    if (cut) {
      const p = prompts[i]!.replace(/\s+/g, ' ').trim();
      io.warn(`prompt ${i + 1} ("${p.length > 40 ? `${p.slice(0, 40)}…` : p}") is longer than ${ctx} tokens and was truncated`);
    }
  });
  return t;
}

function checkVocab(tokenizer: ClipTokenizer, clip: ClipModel): void {
  if (tokenizer.vocabSize > clip.config.text.vocabSize) {
    throw new CliError(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's token_embedding has ${clip.config.text.vocabSize} rows: vocab.json and the weights do not belong together`);
  }
}

function checkLatent(z: { shape: number[] }, vq: VqganModel, file: string): void {
  const e = vq.config.embedDim;
  if (z.shape.length !== 4 || z.shape[1] !== e || !z.shape[0] || !z.shape[2] || !z.shape[3]) {
    throw new CliError(`${file}: latent has shape ${fmtShape(z.shape)}, expected [B,${e},h,w] (this VQGAN's codebook vectors have ${e} channels)`);
  }
}

function warnRange(data: Float32Array, lo: number, hi: number, file: string, why: string, io: Io): void {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min < lo - 1e-6 || max > hi + 1e-6) io.warn(`${file}: values span [${min}, ${max}]; ${why}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runCli('inspect', (argv) => inspectMain(argv));
}
