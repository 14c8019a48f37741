/**
 * `npm run models:pull`: fetch every default model file that is not yet in MODELS_DIR (resuming
 * partial downloads), check each file (tensor names and shapes through the engine's reader), move bad
 * files aside, and record url/size/sha256/date in MODELS_DIR/manifest.json.
 *
 * pullModels never throws for a download or file problem: it returns a result whose `report` is the
 * one message to show (with URLs and exact paths for manual placement when something is missing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { download, DownloadError } from './download.ts';
import { DEFAULT_BASES, defaultModelSpecs, formatBytes, isFile, manualPlacementLines, type ModelFile, type ModelSpec, type SourceBases } from './layout.ts';
import { readManifest, sha256File, writeManifest, type ManifestEntry } from './manifest.ts';
import { ProgressBar, type ProgressStream } from './progress.ts';
import { checkFile, moveAside, type ListTensors } from './verify.ts';

export type FileStatus =
  /** Already there and checks out. */
  | 'present'
  /** Downloaded now and checks out. */
  | 'downloaded'
  /** Not there (check-only run). */
  | 'missing'
  /** Host unreachable: not fetched. */
  | 'offline'
  /** Download failed (HTTP error, interrupted, size mismatch). */
  | 'failed'
  /** The file was there or arrived, but is wrong or truncated; moved aside. */
  | 'rejected';

export interface PullFileResult {
  model: ModelSpec;
  file: ModelFile;
  /** Final path of the file. */
  path: string;
  /** Path relative to MODELS_DIR, as in the manifest. */
  key: string;
  status: FileStatus;
  /** One line: what went wrong (or a note). */
  message?: string;
  /** Where a rejected file was moved. */
  rejectedTo?: string;
  /** A .part file is kept for resuming. */
  partial?: boolean;
  entry?: ManifestEntry;
}

export interface PullResult {
  ok: boolean;
  files: PullFileResult[];
  /** Hosts that could not be reached. */
  offlineHosts: string[];
  /** The message to show: a summary when ok, otherwise every problem plus manual-placement lines. */
  report: string;
}

export interface PullOptions {
  modelsDir: string;
  /** Default: defaultModelSpecs(bases). Tests pass small expectation sets. */
  specs?: ModelSpec[];
  bases?: SourceBases;
  /** Default: the engine's listTensors (src/engine/weights). */
  listTensors?: ListTensors;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Automatic resumes after an interrupted transfer within this run (default 2). */
  retries?: number;
  /** Do not download: only check what is there. */
  checkOnly?: boolean;
  /** Progress and status lines (default process.stderr). */
  stream?: ProgressStream;
  /** Time between plain progress lines when not a TTY. */
  plainIntervalMs?: number;
  now?: () => Date;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}


export async function pullModels(opts: PullOptions): Promise<PullResult> {
  const modelsDir = path.resolve(opts.modelsDir);
  const specs = opts.specs ?? defaultModelSpecs(opts.bases ?? DEFAULT_BASES);
  const out = opts.stream ?? process.stderr;
  const now = opts.now ?? (() => new Date());
  const retries = opts.retries ?? 2;
  const manifest = readManifest(modelsDir);
  let manifestChanged = false;
  const offline = new Map<string, string>(); // host -> reason
  const results: PullFileResult[] = [];

  for (const model of specs) {
    const dir = path.join(modelsDir, model.folder);
    for (const file of model.files) {
      const dest = path.join(dir, file.name);
      const key = `${model.folder}/${file.name}`;
      const r: PullFileResult = { model, file, path: dest, key, status: 'missing' };
      results.push(r);
      let downloadedNow = false;

      // 1. A file already in place is checked first; a bad one is moved aside and fetched again.
      if (isFile(dest)) {
        const c = await checkFile(dest, file.check, { listTensors: opts.listTensors, bytes: file.bytes });
        if (c.ok) {
          r.status = 'present';
          if (c.warning) r.message = c.warning;
        } else {
          r.rejectedTo = moveAside(dest);
          r.status = 'rejected';
          r.message = `${c.problem}; moved aside to ${r.rejectedTo}`;
          out.write(`${key}: ${r.message}\n`);
          if (manifest.files[key]) {
            delete manifest.files[key];
            manifestChanged = true;
          }
        }
      }

      // 2. Download what is not there.
      if (r.status !== 'present' && !opts.checkOnly) {
        const host = hostOf(file.url);
        if (offline.has(host)) {
          r.status = r.status === 'rejected' ? 'rejected' : 'offline';
          r.message = r.status === 'rejected' ? r.message : `not fetched: ${offline.get(host)}`;
        } else {
          fs.mkdirSync(dir, { recursive: true });
          for (let attempt = 0; ; attempt++) {
            const bar = new ProgressBar(key, { stream: out, plainIntervalMs: opts.plainIntervalMs });
            try {
              const d = await download({
                url: file.url,
                dest,
                expectedBytes: file.bytes,
                connectTimeoutMs: opts.connectTimeoutMs,
                idleTimeoutMs: opts.idleTimeoutMs,
                onStart: (p) => bar.start(p.received, p.total),
                onProgress: (p) => bar.update(p.received, p.total),
              });
              bar.done(d.bytes, d.transferred === 0 ? `${key}  already complete (${formatBytes(d.bytes)})` : undefined);
              downloadedNow = true;
              r.status = 'downloaded';
              r.message = undefined;
              break;
            } catch (err) {
              bar.abort();
              if (!(err instanceof DownloadError)) throw err;
              if (err.kind === 'incomplete' && attempt < retries) {
                out.write(`${key}: ${err.message}; resuming\n`);
                continue;
              }
              if (err.kind === 'network') {
                offline.set(host, err.message);
                r.status = r.status === 'rejected' ? 'rejected' : 'offline';
                r.message = r.status === 'rejected' ? `${r.message}; and ${err.message}` : err.message;
              } else {
                r.status = r.status === 'rejected' ? 'rejected' : 'failed';
                r.partial = isFile(`${dest}.part`);
                const resume = err.kind === 'incomplete' && r.partial ? '; run `npm run models:pull` again to resume' : '';
                r.message = r.status === 'rejected' ? `${r.message}; download failed: ${err.message}` : `${err.message}${resume}`;
              }
              break;
            }
          }
        }
      }

      // 3. Check what arrived; a wrong or truncated file never stays under its real name.
      if (downloadedNow) {
        const c = await checkFile(dest, file.check, { listTensors: opts.listTensors, bytes: file.bytes });
        if (!c.ok) {
          r.rejectedTo = moveAside(dest);
          r.status = 'rejected';
          r.message = `${c.problem}; moved aside to ${r.rejectedTo}`;
        } else if (c.warning) r.message = c.warning;
      }

      // 4. Record it.
      if (r.status === 'present' || r.status === 'downloaded') {
        const st = fs.statSync(dest);
        const prev = manifest.files[key];
        if (!downloadedNow && prev && prev.size === st.size && prev.mtimeMs === st.mtimeMs && (!file.sha256 || prev.sha256 === file.sha256)) {
          r.entry = prev;
        } else {
          out.write(`${key}: computing sha256\n`);
          r.entry = {
            url: file.url,
            size: st.size,
            sha256: await sha256File(dest),
            date: now().toISOString(),
            source: downloadedNow ? 'download' : 'manual',
            mtimeMs: st.mtimeMs,
          };
          manifest.files[key] = r.entry;
          manifestChanged = true;
        }
        // 5. A published sha256 (Whisper's URLs carry it) must match.
        if (file.sha256 && r.entry.sha256 !== file.sha256.toLowerCase()) {
          const got = r.entry.sha256;
          r.rejectedTo = moveAside(dest);
          r.status = 'rejected';
          r.message = `sha256 ${got.slice(0, 16)}… is not the published ${file.sha256.slice(0, 16)}…; moved aside to ${r.rejectedTo}`;
          out.write(`${key}: ${r.message}\n`);
          delete manifest.files[key];
          delete r.entry;
        }
      }
    }
  }

  if (manifestChanged) writeManifest(modelsDir, manifest);
  const ok = results.every((r) => r.status === 'present' || r.status === 'downloaded');
  return { ok, files: results, offlineHosts: [...offline.keys()], report: buildReport(modelsDir, specs, results, offline, Boolean(opts.checkOnly)) };
}

function buildReport(modelsDir: string, specs: ModelSpec[], results: PullFileResult[], offline: Map<string, string>, checkOnly: boolean): string {
  const good = results.filter((r) => r.status === 'present' || r.status === 'downloaded');
  if (good.length === results.length) {
    const lines = [`All ${results.length} model files are in place and check out (${modelsDir}):`];
    for (const r of results) lines.push(`  ${r.key}  ${formatBytes(r.entry?.size ?? 0)}  sha256 ${r.entry?.sha256.slice(0, 16) ?? '?'}…${r.message ? `  (${r.message})` : ''}`);
    lines.push(`Manifest: ${path.join(modelsDir, 'manifest.json')}`);
    return lines.join('\n');
  }
  const bad = results.filter((r) => !good.includes(r));
  const lines: string[] = [];
  if (offline.size > 0) {
    const reasons = [...offline.values()].join('; ');
    lines.push(`models:pull cannot download: ${reasons}.`);
  } else {
    lines.push(`models:pull: ${bad.length} of ${results.length} model files are not ready${checkOnly ? ' (check only, nothing downloaded)' : ''}.`);
  }
  for (const r of bad) {
    if (r.status === 'offline') continue;
    lines.push(`  ${r.key}: ${r.status === 'missing' ? 'missing' : r.message}`);
  }
  const resumable = bad.some((r) => r.partial);
  lines.push(
    '',
    'Put each file at the path shown (download it on a machine with internet access, or copy it from another',
    'Reverie install), then run `npm run models:pull` again: it checks them and writes the manifest.',
  );
  if (resumable) lines.push('Partial downloads (.part) are kept: running `npm run models:pull` again resumes them.');
  const badKeys = new Set(bad.map((r) => r.key));
  lines.push(...manualPlacementLines(specs, modelsDir, (s, f) => badKeys.has(`${s.folder}/${f.name}`)));
  return lines.join('\n');
}
