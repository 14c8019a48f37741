/**
 * node --import tsx scripts/real-size-biggan.ts [--size 128|256|512] [--step H] [--device cpu|cuda:0]
 *
 * BigGAN-deep with random weights written as a legacy torch.save file under the release names, loaded by
 * the real loader, run (official forward and big-sleep with its gradient, checked by finite differences).
 * Prints JSON: load time and memory, run times, GFLOP.
 */
import { parseArgs, runCli } from '../src/cli/args.ts';
import { parseDevice } from '../src/engine/graph/index.ts';
import { BIGGAN_DEEP_128, BIGGAN_DEEP_256, BIGGAN_DEEP_512 } from '../src/engine/models/expected-biggan.ts';
import { bigganRealSizeCheck } from '../test/helpers/real-size-biggan.ts';

runCli('real-size-biggan', async (argv) => {
  const { values } = parseArgs(argv, {
    size: { type: 'string', choices: ['128', '256', '512'] },
    step: { type: 'number', min: 0 },
    device: { type: 'string' },
  });
  const hyper = { 128: BIGGAN_DEEP_128, 256: BIGGAN_DEEP_256, 512: BIGGAN_DEEP_512 }[(values.size ?? '256') as '128' | '256' | '512'];
  const report = await bigganRealSizeCheck({
    hyper,
    ...(values.step ? { step: values.step } : {}),
    ...(values.device ? { device: parseDevice(values.device) } : {}),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return 0;
});
