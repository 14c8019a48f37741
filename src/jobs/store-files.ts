/**
 * The job store's files: <dataDir>/jobs/<id>/ holds checkpoints, snapshots and results. Writes go to a
 * temp name, are fsynced (when durable) and renamed, so readers see the old file or the whole new one.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeCheckpoint } from './checkpoint-codec.ts';
import { CheckpointError } from './errors.ts';
import type { Checkpoint } from './types.ts';

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A fresh suffix for file names, so a new file never has the name of one a row may still point at. */
export const fileTag = (): string => randomBytes(3).toString('hex');

export function jobDirOf(dataDir: string, id: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`bad job id ${JSON.stringify(id)}`);
  return path.join(dataDir, 'jobs', id);
}

/** temp name → (fsync) → rename: readers see the old file or the whole new one, never a part. */
export function writeFileAtomic(file: string, data: Buffer, durable: boolean): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${fileTag()}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** What the jobs row records about its checkpoint file. */
export interface CheckpointRef { path: string; sha256: string | null; size: number | null; step: number | null }

/** Reads and verifies (size, sha256, step) a checkpoint file; throws CheckpointError if it is missing or damaged. */
export function readCheckpointFile(id: string, ref: CheckpointRef): Checkpoint {
  const p = ref.path;
  let buf: Buffer;
  try {
    buf = fs.readFileSync(p);
  } catch (e) {
    throw new CheckpointError(id, 'missing', `${p}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (buf.length !== ref.size) throw new CheckpointError(id, 'corrupt', `${p} has ${buf.length} bytes, expected ${ref.size}`);
  if (sha256(buf) !== ref.sha256) throw new CheckpointError(id, 'corrupt', `${p} fails its sha256 check`);
  let c: Checkpoint;
  try {
    c = decodeCheckpoint(buf);
  } catch (e) {
    throw new CheckpointError(id, 'corrupt', `${p}: ${(e as Error).message}`);
  }
  if (c.step !== ref.step) throw new CheckpointError(id, 'corrupt', `${p} holds step ${c.step}, expected ${ref.step}`);
  return c;
}

/** Deletes temp files and checkpoint/snapshot files other than `keep` (paths) in a job folder; returns how many. */
export function sweepDir(dir: string, keep: readonly (string | null | undefined)[]): number {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  const kept = new Set(keep.filter((x): x is string => !!x).map((p) => path.basename(p)));
  let n = 0;
  for (const name of names) {
    if (name.includes('.tmp-') || (/^(checkpoint|snapshot)-/.test(name) && !kept.has(name))) {
      fs.rmSync(path.join(dir, name), { force: true });
      n++;
    }
  }
  return n;
}
