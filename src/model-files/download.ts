/**
 * One resumable HTTP(S) download: `<dest>.part` grows until it is complete, then is renamed to `dest`.
 *
 * - Resume: an existing `.part` is continued with `Range: bytes=<size>-`. 206 appends (the
 *   Content-Range start must match), 200 means the server ignored the range: start over, 416 means
 *   there is nothing left to send: the part is complete if its size equals the total, else start over.
 * - Redirects (301/302/303/307/308) are followed, relative Locations included (heibox and Hugging Face
 *   both redirect to a download host).
 * - The size is checked against Content-Length / Content-Range (and an exact expected size if known).
 *   A transfer cut short keeps its `.part` for the next run.
 * - A connect timeout bounds the time until the response headers (DNS included), an idle timeout the
 *   time between data, so an offline machine fails in seconds.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

export type DownloadErrorKind =
  /** No HTTP response at all: DNS failure, refused, unreachable, timed out. The host looks offline. */
  | 'network'
  /** The server answered with an error status (404, 403, 500, …). */
  | 'http'
  /** The transfer stopped before the end; the .part file is kept and the next run resumes. */
  | 'incomplete'
  /** The bytes received do not add up (more than announced, or not the expected size). */
  | 'size';

export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    message: string,
    readonly kind: DownloadErrorKind,
    readonly url: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface DownloadProgress {
  /** Bytes in the .part file so far (resumed bytes included). */
  received: number;
  /** Total size, when known. */
  total: number | undefined;
  /** Bytes that were already there when this transfer started. */
  resumedFrom: number;
}

export interface DownloadOptions {
  url: string;
  /** Final path; bytes go to `${dest}.part` first. */
  dest: string;
  /** Time allowed until response headers arrive, DNS and redirects included (default 10 s). */
  connectTimeoutMs?: number;
  /** Time allowed without any data once the body flows (default 60 s). */
  idleTimeoutMs?: number;
  /** Exact size, when known in advance. */
  expectedBytes?: number;
  maxRedirects?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Called once the response is accepted (after redirects), e.g. to start a progress bar. */
  onStart?: (p: DownloadProgress & { finalUrl: string }) => void;
  userAgent?: string;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  /** Bytes that came from an earlier run's .part file. */
  resumedFrom: number;
  /** Bytes transferred by this call. */
  transferred: number;
  finalUrl: string;
}

function describeNetworkError(err: NodeJS.ErrnoException, url: URL): string {
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${url.hostname} (no DNS: offline?)`;
    case 'ECONNREFUSED':
      return `connection to ${url.host} refused`;
    case 'ETIMEDOUT':
      return `no answer from ${url.host} in time`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return `${url.host} is unreachable (no network)`;
    default:
      return `${url.host}: ${err.code ? `${err.code} ` : ''}${err.message}`.trim();
  }
}

interface Response {
  res: http.IncomingMessage;
  finalUrl: string;
}

/** GET with redirects and a deadline for the headers. */
function request(url: string, headers: Record<string, string>, opts: { connectTimeoutMs: number; maxRedirects: number }): Promise<Response> {
  const deadline = Date.now() + opts.connectTimeoutMs;
  return new Promise<Response>((resolve, reject) => {
    const go = (current: URL, hops: number) => {
      const mod = current.protocol === 'https:' ? https : current.protocol === 'http:' ? http : undefined;
      if (!mod) {
        reject(new DownloadError(`unsupported URL scheme ${current.protocol}`, 'http', current.href));
        return;
      }
      const remaining = Math.max(1, deadline - Date.now());
      let settled = false;
      const req = mod.get(current, { headers, agent: false }, (res) => {
        clearTimeout(timer);
        settled = true;
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if ([301, 302, 303, 307, 308].includes(status) && location) {
          res.resume();
          if (hops >= opts.maxRedirects) {
            reject(new DownloadError(`too many redirects (more than ${opts.maxRedirects})`, 'http', url, status));
            return;
          }
          let next: URL;
          try {
            next = new URL(location, current);
          } catch {
            reject(new DownloadError(`bad redirect Location "${location}"`, 'http', current.href, status));
            return;
          }
          go(next, hops + 1);
          return;
        }
        resolve({ res, finalUrl: current.href });
      });
      const timer = setTimeout(() => {
        const e = new Error(`no response within ${Math.round(opts.connectTimeoutMs / 1000)} s`) as NodeJS.ErrnoException;
        e.code = 'ETIMEDOUT';
        req.destroy(e);
      }, remaining);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        reject(new DownloadError(describeNetworkError(err, current), 'network', current.href));
      });
    };
    let first: URL;
    try {
      first = new URL(url);
    } catch {
      reject(new DownloadError(`not a URL: ${url}`, 'http', url));
      return;
    }
    go(first, 0);
  });
}

const PAUSE_ABOVE_BYTES = 32 * 1024 * 1024;

function fileSize(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

function parseContentRange(v: string | undefined): { start: number; end: number; total: number | undefined } | { unsatisfiedTotal: number } | undefined {
  if (!v) return undefined;
  let m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(v.trim());
  if (m) return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? undefined : Number(m[3]) };
  m = /^bytes \*\/(\d+)$/.exec(v.trim());
  if (m) return { unsatisfiedTotal: Number(m[1]) };
  return undefined;
}

export async function download(opts: DownloadOptions): Promise<DownloadResult> {
  const part = `${opts.dest}.part`;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
  const maxRedirects = opts.maxRedirects ?? 10;
  const baseHeaders: Record<string, string> = {
    'user-agent': opts.userAgent ?? 'reverie-models-pull (+https://github.com/)',
    'accept-encoding': 'identity',
    accept: '*/*',
  };

  for (let attempt = 0; attempt < 3; attempt++) {
    let start = fileSize(part);
    if (opts.expectedBytes !== undefined && start > opts.expectedBytes) {
      fs.rmSync(part, { force: true });
      start = 0;
    }
    const headers = { ...baseHeaders, ...(start > 0 ? { range: `bytes=${start}-` } : {}) };
    const { res, finalUrl } = await request(opts.url, headers, { connectTimeoutMs, maxRedirects });
    const status = res.statusCode ?? 0;

    let total: number | undefined;
    let flags: 'a' | 'w';
    if (status === 416 && start > 0) {
      res.resume();
      const cr = parseContentRange(res.headers['content-range']);
      const t = cr && 'unsatisfiedTotal' in cr ? cr.unsatisfiedTotal : undefined;
      if (t === start && (opts.expectedBytes === undefined || opts.expectedBytes === start)) {
        fs.renameSync(part, opts.dest);
        return { path: opts.dest, bytes: start, resumedFrom: start, transferred: 0, finalUrl };
      }
      fs.rmSync(part, { force: true }); // the part does not match what the server has: start over
      continue;
    } else if (status === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      if (!cr || 'unsatisfiedTotal' in cr || cr.start !== start) {
        res.resume();
        fs.rmSync(part, { force: true });
        continue;
      }
      total = cr.total ?? (res.headers['content-length'] ? start + Number(res.headers['content-length']) : undefined);
      flags = 'a';
    } else if (status === 200) {
      // A fresh transfer, or a server that ignored the Range header: (re)start from byte 0.
      start = 0;
      const cl = res.headers['content-length'];
      total = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : undefined;
      flags = 'w';
    } else {
      res.resume();
      const what = status === 404 ? 'not found (404)' : status === 401 || status === 403 ? `access denied (${status})` : `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`;
      throw new DownloadError(`${what} at ${finalUrl}`, 'http', opts.url, status);
    }

    if (total !== undefined && opts.expectedBytes !== undefined && total !== opts.expectedBytes) {
      res.destroy();
      throw new DownloadError(`the server offers ${total} bytes, expected ${opts.expectedBytes}: not the right file`, 'size', opts.url, status);
    }

    opts.onStart?.({ received: start, total, resumedFrom: start, finalUrl });
    let received = start;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = () => {
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => res.destroy(Object.assign(new Error(`no data for ${Math.round(idleTimeoutMs / 1000)} s`), { code: 'ETIMEDOUT' })), idleTimeoutMs);
    };
    armIdle();
    // Not stream.pipeline: on a cut connection it would destroy the file stream and drop bytes
    // already received. Here everything received is flushed to the .part before returning.
    const streamError = await new Promise<Error | undefined>((resolve) => {
      const file = fs.createWriteStream(part, { flags });
      let failure: Error | undefined;
      let ended = false;
      const finish = (e?: Error) => {
        if (ended) return;
        ended = true;
        failure = e;
        if (idle) clearTimeout(idle);
        file.end();
      };
      res.on('data', (chunk: Buffer) => {
        if (ended) return;
        received += chunk.length;
        armIdle();
        opts.onProgress?.({ received, total, resumedFrom: start });
        file.write(chunk);
        // Back-pressure only past a large buffer: a paused response that is then cut loses what it
        // had buffered, and every byte kept is a byte the next run need not fetch.
        if (file.writableLength > PAUSE_ABOVE_BYTES) res.pause();
      });
      file.on('drain', () => res.resume());
      res.on('end', () => finish(res.complete ? undefined : new Error('connection closed early')));
      res.on('error', (e) => finish(e));
      res.on('close', () => finish(res.complete ? undefined : new Error('connection closed early')));
      file.on('close', () => resolve(failure));
      file.on('error', (e) => {
        failure ??= e;
        res.destroy();
        if (idle) clearTimeout(idle);
        resolve(failure);
      });
    });
    const have = fileSize(part);
    if (total !== undefined && have > total) {
      fs.rmSync(part, { force: true });
      throw new DownloadError(`received ${have} bytes but the server announced ${total}: discarded`, 'size', opts.url, status);
    }
    if (streamError || (total !== undefined && have < total)) {
      const of = total !== undefined ? ` of ${total}` : '';
      const why = streamError ? `: ${streamError.message}` : '';
      throw new DownloadError(`transfer interrupted at ${have}${of} bytes${why}`, 'incomplete', opts.url, status);
    }
    if (opts.expectedBytes !== undefined && have !== opts.expectedBytes) {
      throw new DownloadError(`got ${have} bytes, expected ${opts.expectedBytes}`, have < opts.expectedBytes ? 'incomplete' : 'size', opts.url, status);
    }
    fs.renameSync(part, opts.dest);
    return { path: opts.dest, bytes: have, resumedFrom: start, transferred: have - start, finalUrl };
  }
  throw new DownloadError('the server keeps answering ranges that do not match the partial file', 'size', opts.url);
}
