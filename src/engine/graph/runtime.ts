import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { pidAlive } from '../../process-alive.ts';
import type { DType } from './graph.ts';
import type { SerializedModel } from './onnx.ts';

export type Device = 'cpu' | `cuda:${number}`;
export type HostArray = Float32Array | BigInt64Array | Uint8Array;

export interface SessionOptions {
  device?: Device;
  /** intra-op threads (default: ORT's choice, all cores) */
  threads?: number;
  /** ORT graph optimisation level (default 'all') */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's CPU memory arena, with the memory pattern off (default: no arena; see sessionOptions) */
  memArena?: boolean;
  /**
   * let ORT pre-pack constant matrix operands (default on). Off, a weight read by several MatMul/Gemm
   * nodes (the forward and its gradient) stays one copy instead of one packed copy per node: a 256² /
   * 32-cutout step session holds 280 MB less, and its products take about 8 % longer
   */
  prepack?: boolean;
  /** write a JSON profile with this file prefix */
  profilePrefix?: string;
  /**
   * where the weights of a large graph are written for ORT to map (default: the OS temp folder; it
   * should be a disk, not a tmpfs); the files are unlinked once the session exists. false: hand ORT
   * the weights in memory instead
   */
  spillDir?: string | false;
}

/**
 * ENGINE_MEMORY. fast: a run's working memory stays in ORT's CPU arena, and the weights of matrix
 * products are pre-packed (CPU only; a GPU session is the same either way). lean: neither.
 */
export type MemoryMode = 'fast' | 'lean';
export const memoryOptions = (mode: MemoryMode): Pick<SessionOptions, 'memArena' | 'prepack'> => ({ memArena: mode === 'fast', prepack: mode === 'fast' });

/** Graphs with at least this much external weight data are loaded through files. */
const SPILL_MIN_BYTES = 32 * 2 ** 20;

export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

export function parseDevice(s: string): Device {
  if (s === 'cpu') return 'cpu';
  const m = /^cuda:(\d+)$/.exec(s);
  if (m) return `cuda:${Number(m[1])}`;
  throw new RuntimeError(`unknown device "${s}": expected "cpu" or "cuda:N"`);
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = { float32: 'float32', float64: 'float64', int64: 'int64', bool: 'bool' };

/**
 * ORT's options for a session on opts.device. On CUDA, falling back to the CPU is disabled: a node with no
 * CUDA kernel makes session creation fail instead of silently copying tensors to the host each step.
 */
export function sessionOptions(model: Pick<SerializedModel, 'externalData'>, opts: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const device = opts.device ?? 'cpu';
  const session: Record<string, string> = {};
  if (opts.prepack === false) session.disable_prepacking = '1';
  if (device !== 'cpu') session.disable_cpu_ep_fallback = '1';
  return {
    graphOptimizationLevel: opts.optimization ?? 'all',
    executionProviders: device === 'cpu' ? ['cpu'] : [{ name: 'cuda', deviceId: Number(device.slice(5)) }],
    externalData: model.externalData,
    // Without the arena every run faults fresh pages in (0.6 s of a 4.9 s 256² / 32-cutout step here).
    // With it, ORT's memory pattern (one block per run, planned from the first) grew it to a 4.5 GB peak
    // for that step; without the pattern the arena reuses freed blocks and peaks 0.15 GB above no arena.
    enableCpuMemArena: opts.memArena ?? false,
    ...(opts.memArena && device === 'cpu' ? { enableMemPattern: false } : {}),
    enableProfiling: opts.profilePrefix !== undefined,
    ...(opts.profilePrefix !== undefined ? { profileFilePrefix: opts.profilePrefix } : {}),
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    ...(Object.keys(session).length ? { extra: { session } } : {}),
  };
}

/** An ONNX Runtime session over a serialised graph, with shape-checked named inputs and outputs. */
export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly model: Pick<SerializedModel, 'inputs' | 'outputs'>,
    readonly device: Device,
  ) {}

  static async create(model: SerializedModel, opts: SessionOptions = {}): Promise<Session> {
    const device = opts.device ?? 'cpu';
    const options = sessionOptions(model, opts);
    try {
      const session = (await createFromFiles(model, options, opts.spillDir)) ?? (await ort.InferenceSession.create(model.bytes, options));
      return new Session(session, { inputs: model.inputs, outputs: model.outputs }, device);
    } catch (err) {
      const msg = (err as Error).message;
      if (device !== 'cpu' && /fallback/i.test(msg)) {
        throw new RuntimeError(`a node of the graph has no ${device} kernel and CPU fallback is disabled: ${msg}`);
      }
      if (device !== 'cpu' && /cuda|provider/i.test(msg)) {
        throw new RuntimeError(
          `could not start ONNX Runtime on ${device}: ${msg}. Install the CUDA build with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci (CUDA 12 + cuDNN 9), or set DEVICES=cpu`,
        );
      }
      throw new RuntimeError(`ONNX Runtime could not load the graph: ${msg}`);
    }
  }

  async run(feeds: Record<string, HostArray>, outputNames?: readonly string[]): Promise<Record<string, HostArray>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const spec of this.model.inputs) {
      const data = feeds[spec.name];
      if (!data) throw new RuntimeError(`missing input "${spec.name}" (${spec.dtype}[${spec.shape.join(',')}])`);
      const n = spec.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n) throw new RuntimeError(`input "${spec.name}" has ${data.length} values, expected ${n} for [${spec.shape.join(',')}]`);
      ortFeeds[spec.name] = new ort.Tensor(ORT_TYPE[spec.dtype], data as Float32Array, spec.shape);
    }
    for (const k of Object.keys(feeds)) {
      if (!this.model.inputs.some((i) => i.name === k)) throw new RuntimeError(`unknown input "${k}"`);
    }
    let out: ort.InferenceSession.ReturnType;
    try {
      out = outputNames ? await this.session.run(ortFeeds, [...outputNames]) : await this.session.run(ortFeeds);
    } catch (err) {
      throw new RuntimeError(`ONNX Runtime failed while running the graph: ${(err as Error).message}`);
    }
    const result: Record<string, HostArray> = {};
    for (const [k, t] of Object.entries(out)) result[k] = t.data as HostArray;
    return result;
  }

  endProfiling(): void {
    return this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

const warningListeners = new Set<(message: string) => void>();
/**
 * Calls fn with what the runtime did differently from what was asked and an operator should know
 * (the engine has no logger: its front end logs these); returns the unsubscribe.
 */
export function onRuntimeWarning(fn: (message: string) => void): () => void {
  warningListeners.add(fn);
  return () => warningListeners.delete(fn);
}

/**
 * Weights handed over in memory are copied by ORT, and the NCHWc layout pass (level 'all') keeps
 * the copies beside its reordered kernels; weights in files are mapped, so the session holds only
 * what it transforms. A 256² / 32-cutout step session: 1.2 GB less at its peak. Returns null (the
 * caller passes the weights in memory) for small graphs or when the files cannot be written.
 */
async function createFromFiles(
  model: SerializedModel,
  options: ort.InferenceSession.SessionOptions,
  spillDir: string | false | undefined,
): Promise<ort.InferenceSession | null> {
  const bytes = model.externalData.reduce((n, e) => n + e.data.byteLength, 0);
  // Windows cannot unlink a mapped file: the folder would outlive the session
  if (spillDir === false || bytes < SPILL_MIN_BYTES || process.platform === 'win32') return null;
  const parent = spillDir ?? os.tmpdir();
  let dir: string | undefined;
  try {
    await removeOrphans(parent);
    dir = await fs.mkdtemp(path.join(parent, `${SPILL_PREFIX}${process.pid}-`));
    for (const e of model.externalData) await fs.writeFile(path.join(dir, e.path), e.data);
    await fs.writeFile(path.join(dir, 'model.onnx'), model.bytes);
  } catch (err) {
    if (dir) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    const mb = Math.round(bytes / 2 ** 20);
    for (const fn of warningListeners) fn(`could not write the weights (${mb} MB) to ${parent} for ONNX Runtime to map (${(err as Error).message}); handed them over in memory instead, which holds about ${mb} MB more while the session lives`);
    return null;
  }
  try {
    return await ort.InferenceSession.create(path.join(dir, 'model.onnx'), { ...options, externalData: undefined });
  } finally {
    // the mappings outlive the names
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

const SPILL_PREFIX = 'reverie-weights-';
const swept = new Set<string>();

/**
 * Removes the weight folders of processes that died while creating a session (killed, out of memory:
 * creation is when memory peaks), once per folder and process. A folder is named after its process.
 */
async function removeOrphans(parent: string): Promise<void> {
  if (swept.has(parent)) return;
  swept.add(parent);
  const names = await fs.readdir(parent).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(new RegExp(`^${SPILL_PREFIX}(\\d+)-`).exec(name)?.[1]);
    if (!pid || pid === process.pid || pidAlive(pid)) continue;
    await fs.rm(path.join(parent, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

