/**
 * What the front and the workers agree on in Redis (distributed mode, REDIS_URL set). BullMQ carries the
 * jobs (one queue; the job id is the JobRecord id); plain keys carry the bytes BullMQ should not:
 *
 *   <p>:ckpt:<id>      the job's last checkpoint (checkpoint-codec bytes), written with each snapshot
 *   <p>:snap:<id>      the newest snapshot png (TTL)
 *   <p>:result:<id>    hash: png, webp, gif, z, zshape, meta (TTL; the front takes it and deletes it)
 *   <p>:runs:<id>      list of JSON { worker, device, startStep, at }: one entry per run of the job
 *   <p>:cancel:<id>    set when the front cancels (a worker that picks the job up stops at once)
 *   <p>:workers        hash worker id → JSON WorkerInfo (heartbeat; stale after WORKER_STALE_MS)
 *   <p>:control        pub/sub channel: ControlMessage
 */
import { Redis } from 'ioredis';
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint-codec.ts';
import type { Checkpoint, JobRecord, JobResult } from '../types.ts';

export const QUEUE_NAME = 'reverie-jobs';
export const DEFAULT_PREFIX = 'reverie';
export const SNAPSHOT_TTL_S = 3600;
export const RESULT_TTL_S = 7 * 24 * 3600;
export const WORKER_STALE_MS = 6_000; // three missed heartbeats
export const HEARTBEAT_MS = 2_000;

export const keys = (prefix = DEFAULT_PREFIX) => ({
  ckpt: (id: string) => `${prefix}:ckpt:${id}`,
  snap: (id: string) => `${prefix}:snap:${id}`,
  result: (id: string) => `${prefix}:result:${id}`,
  runs: (id: string) => `${prefix}:runs:${id}`,
  cancel: (id: string) => `${prefix}:cancel:${id}`,
  workers: `${prefix}:workers`,
  control: `${prefix}:control`,
});
export type Keys = ReturnType<typeof keys>;

/** The BullMQ job id of a record: BullMQ refuses all-digit custom ids, and record ids can be all digits. */
export const bullId = (id: string): string => `j${id}`;
export const recordId = (bull: string): string => (bull.startsWith('j') ? bull.slice(1) : bull);

/** BullMQ job data: the record as the worker needs it. */
export interface RemoteJobData {
  job: JobRecord;
}

/** job.updateProgress() payloads. */
export type RemoteProgress =
  | { kind: 'progress'; step: number; steps: number; loss: number; similarity?: number; itPerSec: number; etaSec: number; worker: string; device: string }
  | { kind: 'snapshot'; step: number; checkpointStep?: number; worker: string; device: string }
  | { kind: 'started'; step: number; worker: string; device: string };

export type ControlMessage =
  | { type: 'cancel'; jobId: string }
  | { type: 'pause' | 'resume'; worker?: string; device?: string };

export interface WorkerDeviceInfo {
  device: string;
  paused: boolean;
  state: string; // the runner's state: ready, starting, ...
  jobId?: string;
  step?: number;
  secPerStep?: number;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  seenAt: number;
  devices: WorkerDeviceInfo[];
}

export const MAX_INTERRUPTIONS_MESSAGE = (n: number): string =>
  `This job stopped the painter ${n} time${n === 1 ? '' : 's'} (the worker crashed or was killed), so it was given up. Try a smaller size or fewer cutouts.`;

export const STALLED_MARKER = 'stalled more than allowable limit';

// ---- results as hash fields (bytes stay bytes) ----

export function encodeResult(r: JobResult): Record<string, Buffer | string> {
  const out: Record<string, Buffer | string> = { png: r.png, meta: JSON.stringify(r.metadata ?? {}) };
  if (r.timelapseWebp) out.webp = r.timelapseWebp;
  if (r.timelapseGif) out.gif = r.timelapseGif;
  if (r.finalZ) {
    out.z = Buffer.from(r.finalZ.data.buffer, r.finalZ.data.byteOffset, r.finalZ.data.byteLength);
    out.zshape = JSON.stringify(r.finalZ.shape);
  }
  return out;
}

export function decodeResult(h: Record<string, Buffer>): JobResult | undefined {
  if (!h.png || !h.meta) return undefined;
  const r: JobResult = { png: h.png, metadata: JSON.parse(h.meta.toString('utf8')) as Record<string, unknown> };
  if (h.webp) r.timelapseWebp = h.webp;
  if (h.gif) r.timelapseGif = h.gif;
  if (h.z && h.zshape) {
    const copy = Buffer.from(h.z); // aligned copy
    r.finalZ = { data: new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4), shape: JSON.parse(h.zshape.toString('utf8')) as number[] };
  }
  return r;
}

export const packCheckpoint = (c: Checkpoint): Buffer => encodeCheckpoint(c);
export const unpackCheckpoint = (b: Buffer): Checkpoint => decodeCheckpoint(b);

/** REDIS_URL with its password replaced, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.username && u.password) u.username = u.username;
    return u.toString();
  } catch {
    return 'redis://(unparseable url)';
  }
}

/** Options for every ioredis connection: wait for Redis to come back instead of failing commands. */
export const REDIS_OPTIONS = { maxRetriesPerRequest: null, enableReadyCheck: true, retryStrategy: (n: number) => Math.min(200 + n * 100, 2000) } as const;

/**
 * One ioredis connection with REDIS_OPTIONS; connection errors (Redis restarting) go to `onError` once per
 * outage instead of ioredis's "Unhandled error event" on stderr. The URL (password) is never logged.
 */
export function openRedis(url: string, onError: (e: Error) => void): Redis {
  const c = new Redis(url, REDIS_OPTIONS);
  let down = false;
  c.on('error', (e: Error) => {
    if (!down) onError(e);
    down = true;
  });
  c.on('ready', () => (down = false));
  return c;
}

/** Runs `f` until it succeeds (Redis restarting), waiting 200 ms … 2 s between tries, for up to `forMs`. */
export async function retry<T>(f: () => Promise<T>, forMs = 60_000, stop: () => boolean = () => false): Promise<T> {
  const until = Date.now() + forMs;
  for (let n = 0; ; n++) {
    try {
      return await f();
    } catch (e) {
      if (!isTransient(e) || Date.now() > until || stop()) throw e;
      await new Promise((r) => setTimeout(r, Math.min(200 * (n + 1), 2000)));
    }
  }
}

/** Errors of a Redis that is away (restarting, unreachable) rather than of a bad command. */
export function isTransient(e: unknown): boolean {
  const m = e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}` : String(e);
  return /ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|Connection is closed|connection.*lost|closed|writeable|LOADING|READONLY|MASTERDOWN|TRYAGAIN/i.test(m);
}
