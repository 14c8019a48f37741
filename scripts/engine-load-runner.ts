/**
 * `createRunner` for scripts/load-check.ts that runs the real engine (a worker thread per device) on the
 * tiny parity models: `node --import tsx scripts/load-check.ts --runner scripts/engine-load-runner.ts
 * --steps 3 --size 64 --cutn 4`. REVERIE_FIXTURES or --clip/--vqgan style env vars pick other models.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineRunner } from '../src/jobs/engine-runner.ts';
import { parseDevice } from '../src/engine/graph/index.ts';

const fixtures = process.env.REVERIE_FIXTURES ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/fixtures/parity-tiny');

export function createRunner(device: string): EngineRunner {
  return new EngineRunner({
    clipDir: process.env.REVERIE_CLIP_DIR ?? path.join(fixtures, 'clip-openai'),
    vqganDir: process.env.REVERIE_VQGAN_DIR ?? path.join(fixtures, 'vqgan'),
    device: parseDevice(device),
    threads: 1,
    timelapse: false,
  });
}
