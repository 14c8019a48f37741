/**
 * The contract between the Discord front end (src/bot/), the job layer (src/jobs/) and the engine
 * (src/engine/). The bot submits NewJob and listens to SchedulerEvents; the engine implements JobRunner.
 */
import type { GenerationRequest } from '../engine/request-schema.ts';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'failed', 'cancelled'];
export const TERMINAL_STATES: readonly JobState[] = ['done', 'failed', 'cancelled'];

/** What to paint: defined, with its schema, by the engine (src/engine/request-schema.ts). */
export type { GenerationRequest, OptimiserName } from '../engine/request-schema.ts';

export interface DiscordRef {
  guildId: string | null; // null in DMs
  channelId: string;
  messageId?: string; // the bot's reply message: edit it through the bot token (tokens die after 15 min)
  threadId?: string;
  interactionToken?: string;
}

/** What the bot passes to Scheduler.submit(). */
export interface NewJob {
  userId: string;
  userName?: string;
  guildId: string | null;
  discord: DiscordRef;
  request: GenerationRequest;
  parentId?: string;
}

export interface JobRecord {
  id: string;
  seq: number; // monotonic creation order (FIFO tie-break)
  userId: string;
  userName?: string;
  guildId: string | null;
  parentId?: string; // re-rolls / variations point at their parent
  request: GenerationRequest;
  state: JobState;
  device?: string;
  discord: DiscordRef;
  createdAt: number; // ms since epoch
  startedAt?: number; // first start (kept across restarts)
  finishedAt?: number;
  updatedAt: number;
  step: number; // last step reported
  interruptions: number; // crashes/kills while running (graceful shutdowns do not count)
  checkpointStep?: number; // step of the last saved checkpoint, if any
  snapshotPath?: string; // newest snapshot png
  resultPath?: string; // final png
  timelapsePath?: string;
  finalZPath?: string; // .npy of the final z (for variations: use as initZ)
  metadata?: Record<string, unknown>;
  error?: string; // user-facing text when failed
}

/** Everything needed to continue an optimisation exactly where it stopped. */
export interface Checkpoint {
  step: number; // number of steps completed; resume runs step `step` next (0-based)
  z: Float32Array;
  zShape: number[];
  optimiser: { name: string; state: Record<string, Float32Array | number> };
  rng: number[]; // PRNG state words (uint32 values)
  extra?: Record<string, unknown>; // small JSON-able engine data (e.g. prompt embedding cache keys)
}

export interface ProgressInfo {
  step: number; // steps completed
  steps: number;
  loss: number;
  similarity?: number;
  itPerSec: number;
  etaSec: number;
}

export interface SnapshotInfo {
  step: number;
  png: Buffer;
  /**
   * The state to resume from after this snapshot, saved with it in one transaction. The engine sends
   * the snapshot of step i (the picture before step i's update) with the checkpoint after that update,
   * so checkpoint.step is i + 1.
   */
  checkpoint?: Checkpoint;
}

/** signal.reason when the scheduler aborts a run. */
export interface JobAbortReason {
  kind: 'cancelled' | 'shutdown';
}

export interface JobRunnerContext {
  /**
   * Aborted on cancel or shutdown; reason is a JobAbortReason. The runner must stop within one step.
   * On 'shutdown' it should first call onCheckpoint() with its current state (so nothing is redone),
   * then reject (any error) or resolve: the outcome of an aborted run is ignored.
   */
  signal: AbortSignal;
  /** Set when continuing an interrupted job: restore z/optimiser/rng and continue at resume.step. */
  resume?: Checkpoint;
  onProgress(p: ProgressInfo): void;
  onSnapshot(s: SnapshotInfo): void;
  /** Saved atomically (temp file + rename + one DB transaction); synchronous on the calling thread. */
  onCheckpoint(c: Checkpoint): void;
}

export interface JobResult {
  png: Buffer;
  timelapseWebp?: Buffer;
  timelapseGif?: Buffer;
  finalZ?: { data: Float32Array; shape: number[] };
  metadata: Record<string, unknown>;
}

/** Speech to transcribe: mono float32 samples at 16 kHz. */
export interface SpeechRequest {
  pcm: Float32Array;
  /** language code; undefined: detected (multilingual models) */
  language?: string;
}

/** What the engine heard. */
export interface SpeechResult {
  text: string;
  language: string;
  /**
   * The lowest no-speech probability over the 30-second windows (windows the reference skipped as
   * silence count as 1): over the threshold means no window held speech.
   */
  noSpeechProb: number;
  /** seconds of audio, and the milliseconds the engine took (model load excluded) */
  audioSeconds: number;
  ms: number;
  device: string;
}

/**
 * For health checks: 'starting' (loading the models), 'ready', 'restarting' (a worker died; its
 * replacement loads the models), 'failed' (the models could not load), 'closed'.
 */
export type RunnerState = 'starting' | 'ready' | 'restarting' | 'failed' | 'closed';

/**
 * What a device runs jobs with: implemented by the engine's worker pool (one worker thread per device).
 * The optional members report health; a runner without them counts as ready.
 */
export interface JobRunner {
  readonly device: string; // 'cpu', 'cuda:0', ...
  run(job: JobRecord, ctx: JobRunnerContext): Promise<JobResult>;
  /** Called once by Scheduler.shutdown() after the runs have settled. */
  close?(): Promise<void>;
  /** Resolves once the runner can paint (models loaded); rejects if it cannot. */
  whenReady?(): Promise<void>;
  readonly state?: RunnerState;
  /** Why the last worker stopped or failed to load. */
  readonly lastError?: string | undefined;
  /** Workers that died and were replaced. */
  readonly restarts?: number;
  /** false once the worker is gone. */
  readonly alive?: boolean;
  /**
   * Speech to text on this device (Whisper), a small job beside the paint job it may be running:
   * see src/jobs/transcriber.ts. Absent: this runner cannot transcribe.
   */
  transcribe?(req: SpeechRequest): Promise<SpeechResult>;
}

// ---- scheduler events (Scheduler extends EventEmitter<SchedulerEventMap>) ----

export interface QueuedEvent { job: JobRecord; position: number; etaSec: number; etaDoneSec: number }
/** Emitted for a waiting job whenever its position in the projected fair order changes. */
export interface PositionEvent { job: JobRecord; position: number; etaSec: number; etaDoneSec: number }
export interface StartedEvent { job: JobRecord; device: string; resumedFromStep?: number }
export interface ProgressEvent extends ProgressInfo { job: JobRecord; device: string }
export interface SnapshotEvent { job: JobRecord; step: number; png: Buffer; path: string }
export interface DoneEvent { job: JobRecord; resultPath: string; timelapsePath?: string; finalZPath?: string }
export interface FailedEvent { job: JobRecord; error: string }
export interface CancelledEvent { job: JobRecord; wasRunning: boolean }

export interface SchedulerEventMap {
  queued: [QueuedEvent];
  position: [PositionEvent];
  started: [StartedEvent];
  progress: [ProgressEvent];
  snapshot: [SnapshotEvent];
  done: [DoneEvent];
  failed: [FailedEvent];
  cancelled: [CancelledEvent];
}
export type SchedulerEventName = keyof SchedulerEventMap;

/** position 1 = next to start. etaSec: seconds until it starts; etaDoneSec: until it is finished. */
export interface QueueEntry { job: JobRecord; position: number; etaSec: number; etaDoneSec: number }

export type RefusalCode = 'user_cap' | 'global_cap' | 'shutting_down' | 'disk_full' | 'inputs_gone';

/** Runtime limits an admin can change (persisted in the store's settings table). */
export interface SchedulerLimits {
  perUserCap: number; // queued + running jobs per user (default 3)
  globalQueueCap: number; // queued jobs in all (default 200)
  maxInterruptions: number; // a job interrupted more than this fails (default 3)
}
