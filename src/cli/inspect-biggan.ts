/**
 * The BigGAN subcommands of `imagine inspect` (hooked into inspect.ts's table):
 *
 *   inspect biggan   --biggan DIR --z Z.npy --classes C.npy --truncation T --out IMG.npy
 *       the official BigGAN.forward(z, class_vector, truncation), float32 [B,3,S,S] in [-1,1]
 *   inspect bigsleep --biggan DIR --normu N.npy --cls C.npy [--max-classes K --class-temperature T]
 *                    --probe P.npy --out IMG.npy --grad-normu GN.npy --grad-cls GC.npy
 *       big-sleep's image (G + 1) / 2 with one conditioning row per block, [1,3,S,S], and the gradients of
 *       sum(image · P) with respect to normu and cls (prints the loss)
 */
import fs from 'node:fs';
import { Graph, grad, mul, sumAll } from '../engine/graph/index.ts';
import { BigganModel } from '../engine/models/biggan.ts';
import { bigSleepImage, bigSleepShapes } from '../engine/models/bigsleep.ts';
import { CliError, UsageError, type OptionSpecs, type ParsedOptions } from './args.ts';
import { deviceOf, fmtShape as fmt, readArray, run, save, type InspectIo } from './inspect-common.ts';

interface BigganCommand<S extends OptionSpecs> {
  summary: string;
  usage: string;
  spec: S;
  run(o: ParsedOptions<S>, positionals: string[], io: InspectIo): Promise<void>;
}
const command = <const S extends OptionSpecs>(c: BigganCommand<S>): BigganCommand<S> => c;

const common = {
  biggan: { type: 'string', required: true, valueName: 'DIR', help: 'BigGAN-deep folder (config.json + pytorch_model.bin)' },
  device: { type: 'string', valueName: 'DEV', help: 'cpu (default) or cuda:N' },
} as const satisfies OptionSpecs;
const file = (help: string) => ({ type: 'string', required: true, valueName: 'FILE', help }) as const;

export const BIGGAN_COMMANDS = {
  biggan: command({
    summary: 'BigGAN.forward(z, class_vector, truncation) of BigGAN-deep, float32 [B,3,S,S] in [-1,1]',
    usage: 'inspect biggan --biggan DIR --z z.npy --classes c.npy --truncation T --out img.npy',
    spec: {
      ...common,
      z: file('.npy float32 [B,z_dim] noise'),
      classes: file('.npy float32 [B,num_classes] class vectors (one-hot or mixtures)'),
      truncation: { type: 'number', required: true, valueName: 'T', help: 'truncation in (0,1]: picks the batch-norm statistics' },
      out: file('where to write the image .npy'),
    },
    async run(o, _p, io) {
      const device = deviceOf(o.device);
      if (!(o.truncation > 0 && o.truncation <= 1)) throw new UsageError(`--truncation must be in (0, 1], got ${o.truncation}`);
      const z = readArray(o.z, 'z');
      const classes = readArray(o.classes, 'class vector');
      const model = await loadModel(o.biggan);
      const { zDim, numClasses } = model.config;
      const b = z.shape[0];
      if (z.shape.length !== 2 || !b || z.shape[1] !== zDim) throw new CliError(`${o.z}: z has shape ${fmt(z.shape)}, expected [B,${zDim}] (this model's z_dim is ${zDim})`);
      if (classes.shape.length !== 2 || classes.shape[0] !== b || classes.shape[1] !== numClasses) {
        throw new CliError(`${o.classes}: class vector has shape ${fmt(classes.shape)}, expected [${b},${numClasses}] (one row per z row, ${numClasses} classes)`);
      }
      const g = new Graph();
      const image = model.generate(g, g.input('z', z.shape), g.input('classes', classes.shape), o.truncation);
      g.output(image, 'image');
      const r = await run(g, { z: z.data, classes: classes.data }, device);
      saveF32(o.out, image.shape, r.image as Float32Array, io);
    },
  }),
  bigsleep: command({
    summary: "big-sleep's (G+1)/2 with one latent row per block, [1,3,S,S], and the gradients of sum(image·probe) (prints the loss)",
    usage: 'inspect bigsleep --biggan DIR --normu n.npy --cls c.npy [--max-classes K --class-temperature T] --probe p.npy --out img.npy --grad-normu gn.npy --grad-cls gc.npy',
    spec: {
      ...common,
      normu: file('.npy float32 [L+1,z_dim] latents (L = number of GenBlocks)'),
      cls: file('.npy float32 [L+1,num_classes] class logits'),
      'max-classes': { type: 'integer', min: 1, valueName: 'K', help: "keep each row's top K classes (differentiable top-k; default: sigmoid of the logits)" },
      'class-temperature': { type: 'number', valueName: 'T', help: 'softmax temperature of the top-k (default 2)' },
      probe: file('.npy float32 [1,3,S,S]: the loss is sum(image · probe)'),
      out: file('where to write the image .npy'),
      'grad-normu': file('where to write d loss / d normu'),
      'grad-cls': file('where to write d loss / d cls'),
    },
    async run(o, _p, io) {
      const device = deviceOf(o.device);
      const temperature = o['class-temperature'];
      if (temperature !== undefined && o['max-classes'] === undefined) throw new UsageError('--class-temperature only applies with --max-classes');
      if (temperature !== undefined && !(temperature > 0)) throw new UsageError(`--class-temperature must be positive, got ${temperature}`);
      const normu = readArray(o.normu, 'normu');
      const cls = readArray(o.cls, 'class logits');
      const probe = readArray(o.probe, 'probe');
      const model = await loadModel(o.biggan);
      const want = bigSleepShapes(model);
      const check = (a: { shape: number[] }, s: readonly number[], f: string, what: string) => {
        if (a.shape.length !== s.length || a.shape.some((d, i) => d !== s[i])) {
          throw new CliError(`${f}: ${what} has shape ${fmt(a.shape)}, expected ${fmt(s)} (${model.numLatents} rows: gen_z and ${model.blocks} GenBlocks)`);
        }
      };
      check(normu, want.normu, o.normu, 'normu');
      check(cls, want.cls, o.cls, 'cls');
      const k = o['max-classes'];
      if (k !== undefined && k > model.config.numClasses) throw new UsageError(`--max-classes ${k} exceeds the model's ${model.config.numClasses} classes`);
      const s = model.imageSize;
      if (probe.shape.length !== 4 || probe.shape[0] !== 1 || probe.shape[1] !== 3 || probe.shape[2] !== s || probe.shape[3] !== s) {
        throw new CliError(`${o.probe}: probe has shape ${fmt(probe.shape)}, expected [1,3,${s},${s}] (the image's shape)`);
      }
      const g = new Graph();
      const n = g.input('normu', normu.shape);
      const c = g.input('cls', cls.shape);
      const opts = k === undefined ? {} : { maxClasses: k, classTemperature: temperature ?? 2 };
      const image = bigSleepImage(g, model, n, c, opts);
      const loss = sumAll(mul(image, g.input('probe', probe.shape)));
      const [gn, gc] = grad(loss, [n, c]);
      g.output(image, 'image');
      g.output(loss, 'loss');
      g.output(gn!, 'grad_normu');
      g.output(gc!, 'grad_cls');
      const r = await run(g, { normu: normu.data, cls: cls.data, probe: probe.data }, device);
      io.out(`loss ${(r.loss as Float32Array)[0]}`);
      saveF32(o.out, image.shape, r.image as Float32Array, io);
      saveF32(o['grad-normu'], normu.shape, r.grad_normu as Float32Array, io);
      saveF32(o['grad-cls'], cls.shape, r.grad_cls as Float32Array, io);
    },
  }),
};

// ---------------------------------------------------------------------------------------------- helpers

async function loadModel(dir: string): Promise<BigganModel> {
  if (!fs.existsSync(dir)) throw new CliError(`BigGAN model folder not found: ${dir}`);
  if (!fs.statSync(dir).isDirectory()) throw new CliError(`BigGAN model path is not a folder: ${dir}`);
  try {
    return await BigganModel.load(dir);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

function saveF32(f: string, shape: readonly number[], data: Float32Array, io: InspectIo): void {
  save(f, { dtype: 'float32', shape, data }, io);
}
