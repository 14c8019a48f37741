/** Test helpers for models:pull: tiny safetensors files and a local HTTP file server that misbehaves on request. */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { readSafetensorsHeader, type ListTensors } from '../../src/model-files/verify.ts';
import { repoRoot } from '../helpers/fixtures.ts';

export interface TensorDef {
  name: string;
  shape: number[];
  dtype?: 'F32' | 'F16' | 'I64';
}

const BYTES = { F32: 4, F16: 2, I64: 8 } as const;

/** A valid safetensors file (header padded to 8 bytes, data filled with a pattern). */
export function buildSafetensors(tensors: TensorDef[], metadata: Record<string, string> = { format: 'pt' }): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype ?? 'F32'];
    header[t.name] = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hdr = Buffer.from(json);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hdr.length));
  const data = Buffer.alloc(offset);
  for (let i = 0; i < offset; i++) data[i] = (i * 31 + 7) & 0xff;
  return Buffer.concat([len, hdr, data]);
}

/** A listTensors for safetensors only, standing in for the engine's reader in unit tests. */
export const safetensorsListTensors: ListTensors = async (p) => {
  const h = await readSafetensorsHeader(p);
  if (!h) throw new Error('not a safetensors file');
  return h.tensors;
};

export interface Route {
  body?: Buffer;
  status?: number;
  /** Redirect (302) to this location. */
  redirect?: string;
  /** Send only this many body bytes, then destroy the socket (first `cutTimes` requests). */
  cutAfter?: number;
  cutTimes?: number;
  /** Answer 200 with the whole body even when a Range is asked. */
  ignoreRange?: boolean;
  /** Never answer (to test timeouts). */
  hang?: boolean;
  /** Send no Content-Length (chunked). */
  chunked?: boolean;
}

export interface RequestRecord {
  path: string;
  range: string | undefined;
  status: number;
  bytesSent: number;
}

export interface FileServer {
  base: string;
  port: number;
  routes: Map<string, Route>;
  requests: RequestRecord[];
  close(): Promise<void>;
}

export async function startFileServer(routes: Record<string, Route> = {}): Promise<FileServer> {
  const map = new Map(Object.entries(routes));
  const requests: RequestRecord[] = [];
  const cuts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const key = req.url ?? '/';
    const route = map.get(key);
    const rec: RequestRecord = { path: key, range: req.headers.range, status: 0, bytesSent: 0 };
    requests.push(rec);
    if (!route) {
      rec.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    if (route.hang) return;
    if (route.redirect) {
      rec.status = 302;
      res.writeHead(302, { location: route.redirect }).end();
      return;
    }
    if (route.status && route.status !== 200) {
      rec.status = route.status;
      res.writeHead(route.status, { 'content-type': 'text/plain' }).end(`status ${route.status}`);
      return;
    }
    const body = route.body ?? Buffer.alloc(0);
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !route.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) {
        rec.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const slice = body.subarray(start);
    if (!route.chunked) headers['content-length'] = String(slice.length);
    rec.status = status;
    res.writeHead(status, headers);
    const done = cuts.get(key) ?? 0;
    if (route.cutAfter !== undefined && done < (route.cutTimes ?? 1)) {
      cuts.set(key, done + 1);
      const part = slice.subarray(0, route.cutAfter);
      rec.bytesSent = part.length;
      res.write(part, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    rec.bytesSent = slice.length;
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    routes: map,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (connection refused). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export function tmpDir(prefix = 'reverie-models-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Collects what is written to it (a stand-in for stderr). */
export function sink(): { write(s: string): boolean; text(): string; isTTY: boolean } {
  const parts: string[] = [];
  return { write: (s: string) => (parts.push(s), true), text: () => parts.join(''), isTTY: false };
}

const TSX = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `node --import tsx <script>` in `cwd` with only PATH (and `env`) set. */
export function runScript(script: string, cwd: string, env: Record<string, string> = {}, args: string[] = []): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, path.join(repoRoot, script), ...args],
      { cwd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: Date.now() - t0 }),
    );
  });
}

