/**
 * node --import tsx scripts/real-size.ts [--directions K] [--step H] [--gradient-step H] [--device cpu|cuda:0] [--no-grad]
 *
 * Builds CLIP ViT-B/32 and the VQGAN f16_16384 decoder with random weights under their real key
 * names, runs the image encoder on 2 images, the text encoder on 2 prompts and the decoder on a 16×16
 * latent, and checks the one-cutout loss gradient against central finite differences. Prints JSON.
 */
import { parseArgs, runCli } from '../src/cli/args.ts';
import { parseDevice } from '../src/engine/graph/index.ts';
import { realSizeCheck } from '../test/helpers/real-size.ts';

runCli('real-size', async (argv) => {
  const { values } = parseArgs(argv, {
    directions: { type: 'integer', min: 1, max: 16 },
    step: { type: 'number', min: 0 },
    'gradient-step': { type: 'number', min: 0 },
    device: { type: 'string' },
    'no-grad': { type: 'boolean' },
  });
  const report = await realSizeCheck({
    gradient: !values['no-grad'],
    ...(values.directions ? { directions: values.directions } : {}),
    ...(values.step ? { step: values.step } : {}),
    ...(values['gradient-step'] ? { gradientStep: values['gradient-step'] } : {}),
    ...(values.device ? { device: parseDevice(values.device) } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
});
