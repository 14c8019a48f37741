/**
 * `imagine inspect siren --siren DIR --probe P.npy --out IMG.npy --grads DIR`: the SIREN picture
 * norm_siren_output(siren(grid)) at the config's width × height, float32 [1,3,H,W], and, with a probe
 * P of the same shape, the loss sum(image · P) (printed) and its gradient for every weight, written as
 * DIR/grad__<name with . as _>.npy (the names of SirenNet.named_parameters()).
 *
 * Only function declarations at the top level: inspect.ts imports this file and this file imports
 * inspect.ts's helpers, so nothing may run before both are loaded.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Graph, grad, mul, reshape, sumAll } from '../engine/graph/index.ts';
import { SirenNet } from '../engine/models/siren.ts';
import { CliError, UsageError } from './args.ts';
import { command, deviceOf, fmtShape, folder, readArray, run, save } from './inspect-common.ts';

export function sirenInspectCommand() {
  return command({
    summary: 'norm_siren_output(siren(grid)), float32 [1,3,H,W]; with --probe the loss sum(image·probe) and, with --grads, its gradient for every weight',
    usage: 'inspect siren --siren DIR --probe p.npy --out img.npy --grads DIR',
    spec: {
      siren: { type: 'string', required: true, valueName: 'DIR', help: 'SIREN folder: config.json (num_layers, dim_hidden, w0, w0_initial, width, height) + weights.safetensors' },
      probe: { type: 'string', valueName: 'FILE', help: '.npy float32 [1,3,H,W]: the loss is sum(image · probe)' },
      grads: { type: 'string', valueName: 'DIR', help: 'folder for grad__<weight>.npy, one per weight (needs --probe; created if missing)' },
      out: { type: 'string', required: true, valueName: 'FILE', help: 'where to write the image .npy' },
      device: { type: 'string', valueName: 'DEV', help: 'cpu (default) or cuda:N' },
    },
    async run(o, _p, io) {
      if (o.grads !== undefined && o.probe === undefined) throw new UsageError('--grads needs --probe (the gradients are those of sum(image · probe))');
      const device = deviceOf(o.device);
      let net: SirenNet;
      try {
        net = await SirenNet.load(folder(o.siren, 'SIREN'));
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError((err as Error).message);
      }
      const { width, height } = net.config;
      const shape = [1, 3, height, width];
      const probe = o.probe === undefined ? undefined : readArray(o.probe, 'probe');
      if (probe && (probe.shape.length !== 4 || probe.shape.some((d, i) => d !== shape[i]))) {
        throw new CliError(`${o.probe}: probe has shape ${fmtShape(probe.shape)}, expected ${fmtShape(shape)} (the image at config.json's width × height)`);
      }

      const g = new Graph();
      const w = net.inputs(g);
      const image = net.image(g, w);
      g.output(image, 'image');
      const feeds: Record<string, Float32Array> = net.feeds();
      if (probe) {
        const p = g.input('probe', shape);
        g.output(reshape(sumAll(mul(image, p)), []), 'loss');
        if (o.grads !== undefined) {
          const gs = grad(image, net.layout.map((q) => w[q.name]!), p);
          net.layout.forEach((q, i) => g.output(gs[i]!, SirenNet.gradName(q.name)));
        }
        feeds.probe = probe.data;
      }
      const out = await run(g, feeds, device);
      if (probe) io.out(`loss ${(out.loss as Float32Array)[0]}`);
      save(o.out, { dtype: 'float32', shape, data: out.image as Float32Array }, io);
      if (o.grads !== undefined) {
        try {
          fs.mkdirSync(o.grads, { recursive: true });
        } catch (err) {
          throw new CliError(`cannot create ${o.grads}: ${(err as Error).message}`);
        }
        for (const q of net.layout) {
          const name = SirenNet.gradName(q.name);
          save(path.join(o.grads, `${name}.npy`), { dtype: 'float32', shape: q.shape, data: out[name] as Float32Array }, io);
        }
      }
    },
  });
}
