/**
 * EngineRunner (the JobRunner of the scheduler): one worker thread per device running real jobs with the
 * tiny fixture models; progress, snapshots with checkpoints, resume, cancel within a step, and crash
 * containment (the running job fails with a message, a fresh worker runs the next one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineRunner } from '../../src/jobs/engine-runner.ts';
import type { Checkpoint, GenerationRequest, JobRecord, JobRunnerContext, ProgressInfo, SnapshotInfo } from '../../src/jobs/types.ts';
import { fixture } from '../helpers/fixtures.ts';

let runner: EngineRunner;
const restarts: string[] = [];
beforeAll(async () => {
  runner = new EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1, timelapse: false, onWorkerRestart: (_d, reason) => restarts.push(reason) });
  await runner.whenReady();
});
afterAll(async () => {
  await runner?.close();
});

let seq = 0;
function job(over: Partial<GenerationRequest> = {}): JobRecord {
  seq++;
  const now = Date.now();
  return {
    id: `job-${seq}`,
    seq,
    userId: 'u1',
    guildId: null,
    request: { prompt: 'a red apple', steps: 3, width: 64, height: 64, seed: 5, cutn: 4, cutMethod: 'original', saveEvery: 0, ...over },
    state: 'running',
    discord: { guildId: null, channelId: 'c1' },
    createdAt: now,
    updatedAt: now,
    step: 0,
    interruptions: 0,
  } as JobRecord;
}

interface Recorder {
  ctx: JobRunnerContext;
  ac: AbortController;
  progress: ProgressInfo[];
  snapshots: SnapshotInfo[];
  checkpoints: Checkpoint[];
}

function recorder(over: Partial<JobRunnerContext> & { onProgressToo?: (p: ProgressInfo, r: Recorder) => void } = {}): Recorder {
  const ac = new AbortController();
  const r: Recorder = {
    ac,
    progress: [],
    snapshots: [],
    checkpoints: [],
    ctx: {
      signal: ac.signal,
      onProgress: (p) => {
        r.progress.push(p);
        over.onProgressToo?.(p, r);
      },
      onSnapshot: (s) => r.snapshots.push(s),
      onCheckpoint: (c) => r.checkpoints.push(c),
      ...(over.resume ? { resume: over.resume } : {}),
    },
  };
  return r;
}

describe('EngineRunner', () => {
  let first: { png: Buffer; snapshots: SnapshotInfo[] };

  it('runs a job: progress every step, snapshots with checkpoints, a PNG', async () => {
    const rec = recorder();
    const result = await runner.run(job({ saveEvery: 1 }), rec.ctx);
    expect(rec.progress.map((p) => p.step)).toEqual([1, 2, 3]);
    expect(rec.progress.every((p) => Number.isFinite(p.loss) && p.steps === 3)).toBe(true);
    expect(rec.snapshots.map((s) => s.step)).toEqual([0, 1, 2]);
    expect(rec.snapshots.map((s) => s.checkpoint?.step)).toEqual([1, 2, 3]);
    expect(rec.snapshots[0]!.checkpoint!.z).toBeInstanceOf(Float32Array);
    expect(result.png.subarray(1, 4).toString()).toBe('PNG');
    expect(result.metadata).toMatchObject({ seed: 5, steps: 3 });
    expect(result.finalZ?.data).toBeInstanceOf(Float32Array);
    first = { png: result.png, snapshots: rec.snapshots };
  });

  it('resumes from a checkpoint to the same bytes', async () => {
    const rec = recorder({ resume: first.snapshots[0]!.checkpoint! });
    const result = await runner.run(job({ saveEvery: 1 }), rec.ctx);
    expect(rec.progress.map((p) => p.step)).toEqual([2, 3]);
    expect(Buffer.compare(result.png, first.png)).toBe(0);
  });

  it('cancel stops within one step and hands back a checkpoint', async () => {
    let afterAbort = 0;
    const rec = recorder({
      onProgressToo: (p, r) => {
        if (r.ac.signal.aborted) afterAbort++;
        if (p.step === 1) r.ac.abort({ kind: 'shutdown' });
      },
    });
    await expect(runner.run(job({ steps: 200 }), rec.ctx)).rejects.toThrow(/cancelled/);
    expect(afterAbort).toBeLessThanOrEqual(1);
    expect(rec.progress.length).toBeLessThanOrEqual(2);
    expect(rec.checkpoints).toHaveLength(1);
    expect(rec.checkpoints[0]!.step).toBe(rec.progress.length);
  });

  it('a failing job fails alone, with its message', async () => {
    const rec = recorder();
    await expect(runner.run(job({ initImage: '/nonexistent/picture.png' }), rec.ctx)).rejects.toThrow(/could not read image \/nonexistent\/picture\.png/);
    expect(runner.restarts).toBe(0);
  });

  it('a worker crash fails the running job with a message; a fresh worker runs the next job', async () => {
    const rec = recorder({ onProgressToo: (p) => p.step === 1 && runner.crashForTest() });
    await expect(runner.run(job({ steps: 200 }), rec.ctx)).rejects.toThrow(/engine worker on cpu stopped \(simulated engine crash\)/);
    expect(rec.progress.length).toBeLessThan(200);
    expect(runner.restarts).toBe(1);
    expect(restarts).toEqual(['simulated engine crash']);
    const next = recorder();
    const result = await runner.run(job({ steps: 2 }), next.ctx);
    expect(next.progress.map((p) => p.step)).toEqual([1, 2]);
    expect(result.png.length).toBeGreaterThan(100);
    expect(runner.alive).toBe(true);
  });
});
