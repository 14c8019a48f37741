/** The presenter's options and what it keeps per job message (its view). */
import type { CoalescingEditor } from './editor.ts';
import type { MessageRef, OutgoingFile } from './discord-port.ts';
import type { ViewState } from './format.ts';

export interface PresenterOptions {
  /** minimum time between two edits of one message (Discord allows ~5 per 5 s; default 3000) */
  minEditIntervalMs: number;
  /**
   * minimum time between two edits of a message whose job only waits in the queue (default 10 000):
   * every message in a channel shares one rate-limit bucket, so position updates of many waiting jobs
   * must not crowd out the progress of the running ones
   */
  queuedEditIntervalMs: number;
  /** post a snapshot to the thread when it is at least this many steps after the last one posted (0: every snapshot) */
  threadEvery: number;
  /** create a thread per job (default true) */
  threads: boolean;
  /** largest attachment we upload (Discord's default limit: 10 MiB) */
  attachmentLimit: number;
  /** thread posts waiting at most; older ones are dropped when snapshots come faster than they post */
  maxPendingThreadPosts: number;
}

export const DEFAULT_PRESENTER_OPTIONS: PresenterOptions = {
  minEditIntervalMs: 3000,
  queuedEditIntervalMs: 10_000,
  threadEvery: 0,
  threads: true,
  attachmentLimit: 10 * 1024 * 1024,
  maxPendingThreadPosts: 3,
};

export type BindState = 'pending' | 'bound' | 'gone' | 'none';
export type ThreadState = 'none' | 'creating' | 'ready' | 'unavailable';

export interface JobView extends ViewState {
  bind: BindState;
  message?: MessageRef;
  version: number;
  sentVersion: number;
  snapshot?: { step: number; png: Buffer };
  sentSnapshotStep: number;
  final?: { png: OutgoingFile; timelapse?: OutgoingFile };
  finalized: boolean;
  thread: ThreadState;
  threadId?: string;
  threadWork: Promise<void>;
  pendingPosts: number;
  lastThreadStep: number;
  /** failed attempts at sending a final state (retried a few times, then given up) */
  finalRetries: number;
  editor: CoalescingEditor;
}

