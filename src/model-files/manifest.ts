/**
 * MODELS_DIR/manifest.json: what was pulled, from where, and its sha256 (computed after download).
 *
 *   { "version": 1, "files": { "clip-vit-b-32/vocab.json": { "url", "size", "sha256", "date", "source" } } }
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MANIFEST_FILE } from './layout.ts';

export interface ManifestEntry {
  /** Where the file came from (for a file put there by hand: where it should have come from). */
  url: string;
  size: number;
  sha256: string;
  /** ISO date the entry was written. */
  date: string;
  /** "download" when models:pull fetched it, "manual" when it was found in place. */
  source: 'download' | 'manual';
  /** File modification time (ms) when hashed; lets a later run skip re-hashing an unchanged file. */
  mtimeMs?: number;
}

export interface Manifest {
  version: 1;
  files: Record<string, ManifestEntry>;
}

export function manifestPath(modelsDir: string): string {
  return path.join(modelsDir, MANIFEST_FILE);
}

export function readManifest(modelsDir: string): Manifest {
  try {
    const m = JSON.parse(fs.readFileSync(manifestPath(modelsDir), 'utf8')) as Partial<Manifest>;
    if (m && typeof m === 'object' && m.files && typeof m.files === 'object') return { version: 1, files: m.files };
  } catch {
    /* absent or unreadable: start afresh */
  }
  return { version: 1, files: {} };
}

export function writeManifest(modelsDir: string, m: Manifest): void {
  const sorted: Record<string, ManifestEntry> = {};
  for (const k of Object.keys(m.files).sort()) sorted[k] = m.files[k]!;
  const file = manifestPath(modelsDir);
  fs.mkdirSync(modelsDir, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({ version: 1, files: sorted }, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** sha256 of a file, streamed (hex). */
export async function sha256File(file: string): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
