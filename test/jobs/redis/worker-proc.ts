/**
 * A worker process for the distributed-mode tests: `npm run worker` with DeterministicRunners instead of
 * the engine. Env: REDIS_URL, WORKER_ID, DEVICES (names), STEP_MS, SNAPSHOT_EVERY, LOCK_MS, STALLED_MS.
 * RUNNER=engine: the real engine (one worker thread) with the tiny fixture models instead.
 * Prints `READY`, then `STEP <job> <step>` after each computed step; SIGTERM hands its job back and exits 0.
 */
import { DeterministicRunner } from '../deterministic-runner.ts';
import { fixture } from '../../helpers/fixtures.ts';
import { ClusterWorker } from '../../../src/jobs/redis/worker.ts';
import { startWorkerMetrics } from '../../../src/observability/worker-metrics.ts';

const env = process.env;
const devices = (env.DEVICES ?? 'cpu').split(',');
const engine = env.RUNNER === 'engine' ? await import('../../../src/jobs/engine-runner.ts') : undefined;
const runners = devices.map((device) =>
  engine
    ? new engine.EngineRunner({ clipDir: fixture('clip-openai'), vqganDir: fixture('vqgan'), device: 'cpu', threads: 1, timelapse: true })
    : new DeterministicRunner({
      device,
      stepDelayMs: Number(env.STEP_MS ?? 20),
      workIters: Number(env.WORK_ITERS ?? 1),
      snapshotEvery: Number(env.SNAPSHOT_EVERY ?? 0),
      checkpointEvery: Number(env.CHECKPOINT_EVERY ?? 1),
      ...(env.QUIET ? {} : { onStep: (job: string, step: number) => process.stdout.write(`STEP ${job} ${step + 1}\n`) }),
    }),
);
const worker = new ClusterWorker({
  redisUrl: env.REDIS_URL!,
  runners,
  ...(env.WORKER_ID ? { workerId: env.WORKER_ID } : {}),
  lockDurationMs: Number(env.LOCK_MS ?? 2000),
  stalledIntervalMs: Number(env.STALLED_MS ?? 1000),
  maxInterruptions: Number(env.MAX_INTERRUPTIONS ?? 3),
});
process.on('SIGTERM', () => {
  void worker.close().then(() => process.exit(0));
});
await worker.start();
const metrics = await startWorkerMetrics(worker, 0);
process.stdout.write(`METRICS ${metrics.port}\nREADY\n`);
