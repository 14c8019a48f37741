import { describe, expect, it } from 'vitest';
import { formatDuration, ProgressBar, progressLine } from '../../src/model-files/progress.ts';

describe('progress bar', () => {
  it('formats a line with bar, percent, bytes, rate and ETA', () => {
    const line = progressLine({ label: 'last.ckpt', received: 245_000_000, total: 980_000_000, bytesPerSecond: 10_000_000, width: 8 });
    expect(line).toBe('last.ckpt  [##------]  25%  245.0 MB / 980.0 MB  10.0 MB/s  ETA 1:14');
    expect(progressLine({ label: 'x', received: 1500, total: undefined, bytesPerSecond: 0 })).toBe('x  1.5 kB  0 B/s');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });

  it('redraws one line on a TTY and prints plain throttled lines otherwise', () => {
    let t = 0;
    const tty: string[] = [];
    const a = new ProgressBar('f', { stream: { write: (s: string) => tty.push(s), isTTY: true, columns: 120 }, now: () => t });
    a.start(0, 1000);
    for (let i = 1; i <= 10; i++) {
      t += 200;
      a.update(i * 100, 1000);
    }
    a.done(1000);
    expect(tty.slice(0, -1).every((s) => s.startsWith('\r') && !s.includes('\n'))).toBe(true);
    expect(tty.at(-1)).toMatch(/^\rf {2}1.0 kB in 0:02 \(500 B\/s\)\x1b\[K\n$/);
    expect(tty[5]).toContain('500 B/s');

    t = 0;
    const plain: string[] = [];
    const b = new ProgressBar('f', { stream: { write: (s: string) => plain.push(s) }, now: () => t, plainIntervalMs: 1000 });
    b.start(0, 1000);
    for (let i = 1; i <= 10; i++) {
      t += 200;
      b.update(i * 100, 1000);
    }
    b.done(1000);
    expect(plain.every((s) => s.endsWith('\n') && !s.includes('\r'))).toBe(true);
    expect(plain).toHaveLength(1 + 2 + 1); // start, two updates 1 s apart, done
  });
});
