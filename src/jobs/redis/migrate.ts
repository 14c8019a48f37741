/**
 * Switching an embedded (SQLite) install to distributed mode. The front keeps its job records in SQLite
 * (it alone decides the fair order); what moves to Redis is the state workers need: each queued or running
 * job's checkpoint, so whichever worker takes it continues where the embedded engine stopped. Running
 * jobs go back to the queue (they were stopped with the old process; not counted as interruptions).
 */
import { Redis } from 'ioredis';
import type { JobStoreApi } from '../store-api.ts';
import { keys, packCheckpoint, REDIS_OPTIONS, RESULT_TTL_S, unpackCheckpoint } from './protocol.ts';

export interface MigrationReport {
  queued: number;
  running: number;
  checkpoints: number; // checkpoints copied to Redis
  problems: { jobId: string; error: string }[];
}

export async function migrateToRedis(store: JobStoreApi, redisUrl: string, opts: { dryRun?: boolean; prefix?: string } = {}): Promise<MigrationReport> {
  const k = keys(opts.prefix);
  const conn = new Redis(redisUrl, { ...REDIS_OPTIONS, lazyConnect: true });
  conn.on('error', () => undefined);
  const report: MigrationReport = { queued: 0, running: 0, checkpoints: 0, problems: [] };
  try {
    await conn.connect();
    for (const job of store.listActive()) {
      if (job.state === 'running') report.running++;
      else report.queued++;
      try {
        const c = store.loadCheckpoint(job.id);
        if (c) {
          const cur = await conn.getBuffer(k.ckpt(job.id));
          if (!cur || unpackCheckpoint(cur).step < c.step) {
            if (!opts.dryRun) await conn.set(k.ckpt(job.id), packCheckpoint(c), 'EX', RESULT_TTL_S);
            report.checkpoints++;
          }
        }
        if (job.state === 'running' && !opts.dryRun) store.markQueued(job.id);
      } catch (e) {
        report.problems.push({ jobId: job.id, error: e instanceof Error ? e.message : String(e) });
      }
    }
  } finally {
    conn.disconnect();
  }
  return report;
}
