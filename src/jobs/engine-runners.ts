import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { JobRunner } from './types.ts';
import path from 'node:path';
import { modelPaths } from '../model-files/layout.ts';
import { parseDevice } from '../engine/graph/index.ts';
import { EngineRunner } from './engine-runner.ts';

export interface EngineRunnersOptions {
  logger: Logger;
  onWorkerRestart?(device: string, reason: string): void;
}

/** One EngineRunner (worker thread) per configured device, all reading the configured model folders. */
export function createEngineRunners(config: Config, opts: EngineRunnersOptions): EngineRunner[] {
  const paths = modelPaths(config.modelsDir, { clip: config.clipModel, vqgan: config.vqganModel });
  return config.devices.map(
    (d) =>
      new EngineRunner({
        clipDir: paths.clip.dir,
        vqganDir: paths.vqgan.dir,
        bigganDir: path.resolve(config.modelsDir, config.bigganModel),
        device: parseDevice(d.name),
        ...(config.threadsPerDevice ? { threads: config.threadsPerDevice } : {}),
        memory: config.engineMemory,
        whisper: { checkpoint: config.whisperModel },
        onWarning: (device, message) => opts.logger.warn({ device }, message),
        onWorkerRestart: (device, reason) => {
          opts.logger.warn({ device, reason }, 'engine worker stopped; started a new one');
          opts.onWorkerRestart?.(device, reason);
        },
      }),
  );
}

export type { JobRunner };
