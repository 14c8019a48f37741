/**
 * Checks a job must pass before it is queued, besides the caps: enough free disk space in the data
 * folder (MIN_FREE_MB), and the input files a re-roll or variation points at still there (retention
 * and the end-of-job clean-up remove them).
 */
import fs from 'node:fs';
import { JobRefusedError } from './errors.ts';
import type { NewJob } from './types.ts';

export interface DiskSpace {
  freeMb: number;
  minFreeMb: number;
  ok: boolean;
}

/** Free space of the file system holding `dir`; undefined when it cannot be read. */
export function freeMb(dir: string): number | undefined {
  try {
    const s = fs.statfsSync(dir);
    return (Number(s.bavail) * Number(s.bsize)) / 1024 / 1024;
  } catch {
    return undefined;
  }
}

export function diskSpace(dir: string, minFreeMb: number, measure: (dir: string) => number | undefined = freeMb): DiskSpace | undefined {
  if (minFreeMb <= 0) return undefined;
  const free = measure(dir);
  if (free === undefined) return undefined;
  return { freeMb: Math.floor(free), minFreeMb, ok: free >= minFreeMb };
}

export const DISK_FULL_MESSAGE = "The server is nearly out of disk space, so I'm not taking new pictures right now. The admins have been told; please try again later.";
export const INPUTS_GONE_MESSAGE = 'The images that job started from have been cleaned up since it ended, so I can’t paint it again. Start a new one with /imagine.';

export interface AdmissionOptions {
  dataDir: string;
  minFreeMb: number;
  measure?: (dir: string) => number | undefined;
  /** called when a job is refused for disk space (to log it) */
  onDiskFull?: (d: DiskSpace) => void;
}

export function admissionCheck(opts: AdmissionOptions): (input: NewJob) => void {
  return (input) => {
    const d = diskSpace(opts.dataDir, opts.minFreeMb, opts.measure);
    if (d && !d.ok) {
      opts.onDiskFull?.(d);
      throw new JobRefusedError('disk_full', DISK_FULL_MESSAGE);
    }
    const r = input.request;
    const files = [...(r.imagePrompts ?? []), ...(r.initImage ? [r.initImage] : []), ...(r.initZ ? [r.initZ] : [])];
    if (files.some((f) => !fs.existsSync(f))) throw new JobRefusedError('inputs_gone', INPUTS_GONE_MESSAGE);
  };
}
