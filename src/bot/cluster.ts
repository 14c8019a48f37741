/**
 * Distributed mode on the front (REDIS_URL set): the scheduler's runners are the `cluster` pseudo-device
 * (jobs released to the BullMQ queue, painted by `npm run worker` processes) plus local engine threads
 * only when DEVICES is also set. Also what /queue and /reverie show about workers and their devices.
 */
import type { Logger } from 'pino';
import { attachCluster, ClusterRunner, CLUSTER_DEVICE } from '../jobs/redis/cluster-runner.ts';
import { redactRedisUrl } from '../jobs/redis/protocol.ts';
import type { JobRunner } from '../jobs/types.ts';

export { redisSecrets } from '../jobs/redis/secrets.ts';

export { CLUSTER_DEVICE };

export interface RedisMode {
  redisUrl: string;
  /** DEVICES set explicitly: the front paints too. */
  localDevices: boolean;
}

export function redisMode(env: NodeJS.ProcessEnv = process.env): RedisMode | undefined {
  const url = env.REDIS_URL?.trim();
  return url ? { redisUrl: url, localDevices: !!env.DEVICES?.trim() } : undefined;
}

export async function clusterFrontRunners(mode: RedisMode, log: Logger, local: () => Promise<JobRunner[]>): Promise<JobRunner[]> {
  log.info({ redis: redactRedisUrl(mode.redisUrl), paintsLocally: mode.localDevices }, 'distributed mode: jobs go to the Redis queue');
  const cluster = new ClusterRunner({ redisUrl: mode.redisUrl, logger: log.child({ mod: 'cluster' }), maxInterruptions: Number(process.env.MAX_INTERRUPTIONS ?? 3) });
  return [cluster, ...(mode.localDevices ? await local() : [])];
}

export function findCluster(runners: readonly JobRunner[]): ClusterRunner | undefined {
  return runners.find((r): r is ClusterRunner => r instanceof ClusterRunner);
}

/** Makes the scheduler's cluster device follow the live workers (before recover()). */
export async function startCluster(scheduler: { setConcurrency(device: string, n: number): void }, runners: readonly JobRunner[]): Promise<ClusterRunner | undefined> {
  const c = findCluster(runners);
  if (c) await attachCluster(scheduler, c);
  return c;
}

/** Lines for /queue and /reverie stats: every live worker and its devices. */
export function describeWorkers(cluster: ClusterRunner | undefined): string[] {
  if (!cluster) return [];
  const ws = cluster.workers();
  const out = [`**Workers (${ws.length})**${ws.length ? '' : ': none connected; jobs wait until one starts (`npm run worker`)'}`];
  for (const w of ws)
    for (const d of w.devices) {
      const what = d.jobId ? `painting job \`${d.jobId}\`${d.step !== undefined ? ` (step ${d.step})` : ''}` : d.paused ? '⏸️ paused' : d.state === 'ready' ? 'idle' : d.state;
      out.push(`• \`${w.id}/${d.device}\`${d.paused && d.jobId ? ' ⏸️' : ''}: ${what}${d.secPerStep ? ` · ${d.secPerStep.toFixed(2)} s/step` : ''}`);
    }
  return out;
}

/**
 * /reverie pause|resume with a worker target: `<worker id>` or `<worker id>/<device>` (or a device name
 * on every worker, `*​/cuda:0`). Returns false when `target` names no worker.
 */
export async function pauseWorkers(cluster: ClusterRunner | undefined, target: string, paused: boolean): Promise<boolean> {
  if (!cluster) return false;
  const [worker, device] = target.includes('/') ? (target.split('/', 2) as [string, string]) : [target, undefined];
  if (worker !== '*' && !cluster.workers().some((w) => w.id === worker)) return false;
  await cluster.pauseRemote(paused, { ...(worker !== '*' ? { worker } : {}), ...(device ? { device } : {}) });
  return true;
}
