/**
 * The engine's worker thread: one per device. It owns that device's ONNX Runtime sessions (session.run
 * blocks its thread) and runs one job at a time on messages from the pool.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Device } from './graph/index.ts';
import { AbortedError, Engine, loadModels, type EngineState } from './generate/generator.ts';
import { settingsFromRequest } from './request.ts';
import type { GenerationRequest } from './request-schema.ts';

export interface WorkerInit {
  clipDir: string;
  vqganDir: string;
  /** BigGAN-deep folder for model:biggan (loaded on first use) */
  bigganDir?: string;
  /** SIREN network shape (default 16 × 256) */
  siren?: { numLayers?: number; dimHidden?: number };
  device: Device;
  threads?: number;
}

export type ToWorker =
  | { type: 'start'; jobId: string; request: GenerationRequest; resume?: EngineState; timelapse: boolean }
  | { type: 'cancel'; jobId: string; reason: unknown }
  | { type: 'crash-for-test' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; jobId: string; step: number; steps: number; loss: number; similarity: number; itPerSec: number; etaSec: number }
  | { type: 'snapshot'; jobId: string; step: number; png: Uint8Array; state: EngineState }
  | { type: 'aborted'; jobId: string; state?: EngineState }
  | { type: 'done'; jobId: string; png: Uint8Array; timelapseWebp?: Uint8Array; timelapseGif?: Uint8Array; finalZ: { data: Float32Array; shape: number[] }; metadata: Record<string, unknown>; stepMs: number[] }
  | { type: 'error'; jobId?: string; message: string };

const port = parentPort!;
const init = workerData as WorkerInit;
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

const enginePromise = loadModels(init.clipDir, init.vqganDir, { ...(init.bigganDir ? { bigganDir: init.bigganDir } : {}), ...(init.siren ? { siren: init.siren } : {}) }).then(async (models) => {
  const engine = new Engine(models, init.device, init.threads);
  await engine.probeDevice();
  return engine;
});
enginePromise.then(
  () => send({ type: 'ready' }),
  (err: Error) => send({ type: 'error', message: `could not load the models: ${err.message}` }),
);

const running = new Map<string, AbortController>();

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'cancel') running.get(msg.jobId)?.abort(msg.reason);
  else if (msg.type === 'crash-for-test') setImmediate(() => {
    throw new Error('simulated engine crash');
  });
  else if (msg.type === 'start') void start(msg);
});

async function start(msg: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const ac = new AbortController();
  running.set(msg.jobId, ac);
  const jobId = msg.jobId;
  try {
    const engine = await enginePromise;
    const settings = settingsFromRequest(msg.request, { timelapse: msg.timelapse });
    let abortState: EngineState | undefined;
    const result = await engine.generate(settings, {
      signal: ac.signal,
      ...(msg.resume ? { resume: msg.resume } : {}),
      onProgress: (p) => send({ type: 'progress', jobId, ...p }),
      onSnapshot: (s) => send({ type: 'snapshot', jobId, step: s.step, png: s.png, state: s.state }),
      onAbortState: (state) => (abortState = state),
    }).catch((err: unknown) => {
      if (err instanceof AbortedError) {
        send({ type: 'aborted', jobId, ...(abortState ? { state: abortState } : {}) });
        return null;
      }
      throw err;
    });
    if (result) {
      send({
        type: 'done',
        jobId,
        png: result.png,
        ...(result.timelapseWebp ? { timelapseWebp: result.timelapseWebp } : {}),
        ...(result.timelapseGif ? { timelapseGif: result.timelapseGif } : {}),
        finalZ: result.finalZ,
        metadata: result.metadata,
        stepMs: result.timings.stepMs,
      });
    }
  } catch (err) {
    send({ type: 'error', jobId, message: (err as Error).message });
  } finally {
    running.delete(jobId);
  }
}
