/**
 * `npm run worker`: a painter for distributed mode. Needs REDIS_URL and DEVICES (one engine thread per
 * entry, e.g. `cuda:0,cuda:1`) and the model weights; no Discord token. Pulls jobs from the shared queue
 * until SIGTERM/SIGINT, which checkpoints the running jobs and hands them back to the queue.
 * METRICS_PORT (or HTTP_PORT): /metrics and /healthz on 127.0.0.1.
 */
import { ConfigError, loadConfig } from '../config.ts';
import { initLogger } from '../log.ts';
import { checkModels } from '../model-files/layout.ts';
import { createEngineRunners } from '../jobs/engine-runners.ts';
import { ClusterWorker } from '../jobs/redis/worker.ts';
import { redactRedisUrl } from '../jobs/redis/protocol.ts';
import { redisSecrets } from '../jobs/redis/secrets.ts';
import { startWorkerMetrics } from '../observability/worker-metrics.ts';

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

const redisUrl = process.env.REDIS_URL?.trim();
if (!redisUrl) fail('REDIS_URL is not set: a worker takes its jobs from Redis (see README "Scaling out").');
let config;
try {
  config = loadConfig(process.env, { requireToken: false });
} catch (e) {
  if (e instanceof ConfigError) fail(`Configuration error: ${e.message}`);
  throw e;
}
const problems = checkModels(config.modelsDir, { clip: config.clipModel, vqgan: config.vqganModel });
if (problems.length) fail(`Model weights missing in MODELS_DIR=${config.modelsDir}: ${problems.map((p) => p.message).join('; ')}`);
const log = initLogger({ level: config.logLevel, secrets: redisSecrets() });
const maxInterruptions = Number(process.env.MAX_INTERRUPTIONS ?? 3);
const worker = new ClusterWorker({
  redisUrl,
  runners: createEngineRunners({ ...config, discordToken: '' }, { logger: log }),
  logger: log.child({ mod: 'worker' }),
  maxInterruptions,
  ...(process.env.WORKER_ID ? { workerId: process.env.WORKER_ID } : {}),
});
log.info({ worker: worker.id, redis: redactRedisUrl(redisUrl), devices: config.devices.map((d) => d.name) }, 'starting Reverie worker');
const metricsPort = process.env.METRICS_PORT ? Number(process.env.METRICS_PORT) : config.httpPort;
const metrics = metricsPort !== undefined ? await startWorkerMetrics(worker, metricsPort) : undefined;
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'worker: stopping (running jobs checkpoint and go back to the queue)');
    void worker
      .close()
      .then(() => metrics?.close())
      .then(() => process.exit(0));
  });
await worker.start();
