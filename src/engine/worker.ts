/**
 * The engine's worker thread: one per device. It owns that device's ONNX Runtime sessions (session.run
 * blocks its thread) and runs one job at a time on messages from the pool.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { onRuntimeWarning, type Device, type MemoryMode } from './graph/index.ts';
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
  /** ENGINE_MEMORY for the painting sessions (default fast) */
  memory?: MemoryMode;
  /** Whisper for voice prompts, loaded on the first transcription */
  whisper?: { checkpoint: string; rankFile?: string };
}

export type ToWorker =
  | { type: 'start'; jobId: string; request: GenerationRequest; resume?: EngineState; timelapse: boolean }
  | { type: 'cancel'; jobId: string; reason: unknown }
  | { type: 'transcribe'; reqId: number; pcm: Float32Array; language?: string }
  | { type: 'crash-for-test' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; jobId: string; step: number; steps: number; loss: number; similarity: number; itPerSec: number; etaSec: number }
  | { type: 'snapshot'; jobId: string; step: number; png: Uint8Array; state: EngineState }
  | { type: 'aborted'; jobId: string; state?: EngineState }
  | { type: 'done'; jobId: string; png: Uint8Array; timelapseWebp?: Uint8Array; timelapseGif?: Uint8Array; finalZ: { data: Float32Array; shape: number[] }; metadata: Record<string, unknown>; stepMs: number[] }
  | { type: 'error'; jobId?: string; message: string }
  | { type: 'transcript'; reqId: number; text: string; language: string; noSpeechProb: number; audioSeconds: number; ms: number }
  | { type: 'transcript-error'; reqId: number; message: string }
  /** something the operator should know that did not stop the work (the runner logs it) */
  | { type: 'warning'; message: string };

const port = parentPort!;
const init = workerData as WorkerInit;
const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
onRuntimeWarning((message) => send({ type: 'warning', message }));

const enginePromise = loadModels(init.clipDir, init.vqganDir, { ...(init.bigganDir ? { bigganDir: init.bigganDir } : {}), ...(init.siren ? { siren: init.siren } : {}) }).then(async (models) => {
  const engine = new Engine(models, init.device, init.threads, undefined, undefined, init.memory);
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
  else if (msg.type === 'transcribe') speech = speech.then(() => transcribe(msg));
});

// Speech: one transcription at a time, beside the paint job (each await lets the other run a step).
let speech: Promise<void> = Promise.resolve();
let whisper: Promise<import('./whisper/index.ts').Whisper> | undefined;

async function transcribe(msg: Extract<ToWorker, { type: 'transcribe' }>): Promise<void> {
  try {
    const w = init.whisper;
    if (!w) throw new Error('speech recognition is not set up on this painter (WHISPER_MODEL)');
    const { Whisper } = await import('./whisper/index.ts');
    whisper ??= import('node:fs').then((fs) => {
      if (!fs.existsSync(w.checkpoint)) throw new Error(`the Whisper checkpoint ${w.checkpoint} is missing (npm run models:pull -- --whisper base)`);
      return Whisper.load(w.checkpoint, { device: init.device, ...(w.rankFile ? { rankFile: w.rankFile } : {}), ...(init.threads ? { threads: init.threads } : {}) });
    });
    const model = await whisper.catch((err: unknown) => {
      whisper = undefined; // try again next time (the file may be pulled meanwhile)
      throw err;
    });
    const t0 = performance.now();
    const t = await model.transcribe(msg.pcm, msg.language ? { language: msg.language } : {});
    const noSpeechProb = t.segments.length ? Math.min(...t.segments.map((s) => s.noSpeechProb)) : 1;
    send({ type: 'transcript', reqId: msg.reqId, text: t.text, language: t.language, noSpeechProb, audioSeconds: msg.pcm.length / 16000, ms: performance.now() - t0 });
  } catch (err) {
    send({ type: 'transcript-error', reqId: msg.reqId, message: (err as Error).message });
  }
}

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
