import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/jobs/errors.ts';
import { readNpy } from '../../src/engine/npy.ts';
import { JobStore, SCHEMA_VERSION } from '../../src/jobs/store.ts';
import type { Checkpoint } from '../../src/jobs/types.ts';
import { repoRoot } from '../helpers/fixtures.ts';
import { newJob, tmpDir } from './helpers.ts';

const ckpt = (step: number, fill = step): Checkpoint => ({
  step,
  z: new Float32Array(16).fill(fill),
  zShape: [1, 4, 2, 2],
  optimiser: { name: 'Adam', state: { m: new Float32Array(16).fill(0.5), v: new Float32Array(16).fill(0.25), t: step } },
  rng: [1, 2, 3, 0xffffffff],
  extra: { note: 'x' },
});

describe('JobStore', () => {
  it('creates the schema with numbered migrations in WAL mode and keeps jobs across reopen', () => {
    const dir = tmpDir();
    const s = new JobStore({ dataDir: dir, durable: false });
    expect(s.schemaVersion).toBe(SCHEMA_VERSION);
    expect(s.connectionSettings.journalMode).toBe('wal');
    expect(s.connectionSettings.busyTimeoutMs).toBeGreaterThan(0);
    const j = s.insertJob(newJob('u1', { userName: 'Ann', discord: { guildId: 'g1', channelId: 'c9', messageId: 'm1', threadId: 't1' }, req: { cutn: 16, optimiser: 'AdamW', noisePromptSeeds: [1, 2] } }));
    s.close();
    const s2 = new JobStore({ dataDir: dir, durable: false });
    const back = s2.getJob(j.id)!;
    expect(back).toMatchObject({ userId: 'u1', userName: 'Ann', guildId: 'g1', state: 'queued', step: 0, interruptions: 0 });
    expect(back.request).toEqual(j.request);
    expect(back.discord).toEqual({ guildId: 'g1', channelId: 'c9', messageId: 'm1', threadId: 't1' });
    expect(s2.findByMessageId('m1')?.id).toBe(j.id);
    expect(s2.findByMessageId('t1')?.id).toBe(j.id);
    s2.close();
  });

  it('saves checkpoints atomically with the snapshot, removes the previous files, and round-trips them exactly', () => {
    const s = new JobStore({ dataDir: tmpDir(), durable: true });
    const j = s.insertJob(newJob('u1'));
    expect(s.loadCheckpoint(j.id)).toBeUndefined();
    const first = s.saveCheckpoint(j.id, ckpt(3), { step: 3, png: Buffer.from('png3') });
    const second = s.saveCheckpoint(j.id, ckpt(6), { step: 6, png: Buffer.from('png6') });
    expect(fs.existsSync(first.checkpointPath!)).toBe(false);
    expect(fs.existsSync(first.snapshotPath!)).toBe(false);
    expect(path.dirname(second.checkpointPath!)).toBe(s.jobDir(j.id));
    expect(fs.readFileSync(second.snapshotPath!, 'utf8')).toBe('png6');
    const job = s.getJob(j.id)!;
    expect(job.checkpointStep).toBe(6);
    expect(job.snapshotPath).toBe(second.snapshotPath);
    const back = s.loadCheckpoint(j.id)!;
    expect(back).toEqual(ckpt(6));
    expect(fs.readdirSync(s.jobDir(j.id)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    s.close();
  });

  it('detects a damaged or missing checkpoint file', () => {
    const s = new JobStore({ dataDir: tmpDir(), durable: false });
    const a = s.insertJob(newJob('u1'));
    const b = s.insertJob(newJob('u2'));
    const pa = s.saveCheckpoint(a.id, ckpt(2)).checkpointPath!;
    const pb = s.saveCheckpoint(b.id, ckpt(2)).checkpointPath!;
    const buf = fs.readFileSync(pa);
    buf[buf.length - 3]! ^= 0xff; // flip bits inside the tensor data: same size, other content
    fs.writeFileSync(pa, buf);
    fs.rmSync(pb);
    expect(() => s.loadCheckpoint(a.id)).toThrow(CheckpointError);
    expect(() => s.loadCheckpoint(a.id)).toThrow(/corrupt.*sha256/);
    expect(() => s.loadCheckpoint(b.id)).toThrow(/missing/);
    fs.writeFileSync(pa, buf.subarray(0, 20)); // truncated
    expect(() => s.loadCheckpoint(a.id)).toThrow(/corrupt/);
    s.close();
  });

  it('sweeps temp files and unreferenced checkpoints a kill left behind', () => {
    const s = new JobStore({ dataDir: tmpDir(), durable: false });
    const j = s.insertJob(newJob('u1'));
    const { checkpointPath } = s.saveCheckpoint(j.id, ckpt(1));
    const dir = s.jobDir(j.id);
    fs.writeFileSync(path.join(dir, 'checkpoint-2-abcdef.bin'), 'orphan');
    fs.writeFileSync(path.join(dir, 'checkpoint-2-abcdef.bin.tmp-1-aaaaaa'), 'partial');
    expect(s.sweepJobDir(j.id)).toBe(2);
    expect(fs.readdirSync(dir)).toEqual([path.basename(checkpointPath!)]);
    s.close();
  });

  it('persists settings and gives the median of recent step-time measurements per device', () => {
    const dir = tmpDir();
    const s = new JobStore({ dataDir: dir, durable: false });
    s.setSetting('limits', { perUserCap: 5 });
    for (const v of [1, 2, 100, 3, 4]) s.recordStepTime({ device: 'cpu', steps: 10, secPerStep: v * 2, unitFactor: 2 });
    s.recordStepTime({ device: 'cuda:0', steps: 10, secPerStep: 0.1, unitFactor: 1 });
    s.close();
    const s2 = new JobStore({ dataDir: dir, durable: false });
    expect(s2.getSetting('limits')).toEqual({ perUserCap: 5 });
    expect(s2.secPerUnitStep('cpu')).toBe(3); // median of 1,2,100,3,4: the outlier does not move it
    expect(s2.secPerUnitStep('cuda:0')).toBeCloseTo(0.1);
    expect(s2.secPerUnitStep('cuda:1')).toBeUndefined();
    expect(s2.stepStats().map((d) => [d.device, d.samples])).toEqual(expect.arrayContaining([['cpu', 5], ['cuda:0', 1]]));
    s2.close();
  });

  it('writes results and the final z as .npy', () => {
    const s = new JobStore({ dataDir: tmpDir(), durable: false });
    const j = s.insertJob(newJob('u1'));
    s.saveCheckpoint(j.id, ckpt(1));
    const z = new Float32Array([1.5, -2, 3.25, 0, 7, 8]);
    const done = s.completeJob(j.id, { png: Buffer.from('PNG'), timelapseGif: Buffer.from('GIF'), finalZ: { data: z, shape: [1, 2, 3] }, metadata: { a: 1 } });
    expect(done.state).toBe('done');
    expect(fs.readFileSync(done.resultPath!, 'utf8')).toBe('PNG');
    expect(done.timelapsePath!.endsWith('timelapse.gif')).toBe(true);
    expect(done.metadata).toEqual({ a: 1 });
    const npy = readNpy(done.finalZPath!);
    expect(npy).toMatchObject({ dtype: 'float32', shape: [1, 2, 3] });
    expect(Array.from(npy.data as Float32Array)).toEqual(Array.from(z));
    s.close();
  });

  it('survives concurrent writers (two worker threads and a child process) on a fresh database without SQLITE_BUSY', async () => {
    const dbDir = tmpDir('conc');
    const n = 150;
    const goFile = path.join(dbDir, 'go');
    type Result = { name: string; errors: string[]; t0: number; t1: number };
    // each writer opens its connection (they race to create and migrate the fresh database), says ready,
    // and starts writing when goFile appears
    const ready: Promise<void>[] = [];
    const worker = (name: string): Promise<Result> =>
      new Promise((resolve, reject) => {
        const w = new Worker(new URL('./fixtures/ts-worker.mjs', import.meta.url), {
          workerData: { __entry: new URL('./fixtures/store-writer.ts', import.meta.url).href, dbDir, name, n, goFile },
        });
        ready.push(new Promise((r) => w.once('message', () => (w.once('message', resolve), r()))));
        w.once('error', reject);
      });
    const child = (name: string): Promise<Result> =>
      new Promise((resolve, reject) => {
        const p = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test/jobs/fixtures/store-writer.ts'), JSON.stringify({ dbDir, name, n, goFile })], { cwd: repoRoot });
        let out = '';
        let err = '';
        p.stdout.on('data', (d) => (out += d));
        ready.push(new Promise((r) => p.stdout.on('data', () => out.startsWith('ready') && r())));
        p.stderr.on('data', (d) => (err += d));
        p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.slice(6)) as Result) : reject(new Error(`writer exited ${code}: ${err}`))));
      });
    const running = Promise.all([worker('w1'), worker('w2'), child('p1')]);
    await Promise.all(ready);
    fs.writeFileSync(goFile, '');
    const results = await running;
    // the writers really overlapped in time
    expect(Math.max(...results.map((r) => r.t0))).toBeLessThan(Math.min(...results.map((r) => r.t1)));
    for (const r of results) expect(r.errors, r.name).toEqual([]);
    const db = new Database(path.join(dbDir, 'reverie.db'), { readonly: true });
    const counts = db.prepare("SELECT device, COUNT(*) AS n, SUM(state = 'failed') AS f FROM jobs GROUP BY device ORDER BY device").all();
    expect(counts).toEqual([
      { device: 'p1', n, f: n / 2 },
      { device: 'w1', n, f: n / 2 },
      { device: 'w2', n, f: n / 2 },
    ]);
    expect(db.prepare('SELECT COUNT(*) AS n FROM step_times').get()).toEqual({ n: 3 * n });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    const s = new JobStore({ dataDir: dbDir, durable: false });
    for (const j of s.listJobs({ limit: 1000 })) expect(s.loadCheckpoint(j.id)!.step).toBe(1);
    expect(s.getSetting('writer.w1')).toBe(n - 1);
    s.close();
  });
});
