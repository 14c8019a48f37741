/**
 * A download progress bar for stderr: on a TTY one line redrawn in place (bar, percent, bytes, rate,
 * ETA); otherwise plain lines every few seconds, so CI logs stay readable.
 */
import { formatBytes } from './layout.ts';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(sec).padStart(2, '0')}`;
}

export interface ProgressLineInput {
  label: string;
  received: number;
  total: number | undefined;
  bytesPerSecond: number;
  width?: number;
}

/** The text of one progress line (no control characters). */
export function progressLine(p: ProgressLineInput): string {
  const rate = `${formatBytes(p.bytesPerSecond)}/s`;
  if (p.total === undefined || p.total <= 0) return `${p.label}  ${formatBytes(p.received)}  ${rate}`;
  const frac = Math.min(1, p.received / p.total);
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const eta = p.bytesPerSecond > 0 ? formatDuration((p.total - p.received) / p.bytesPerSecond) : '--:--';
  const barWidth = p.width ?? 24;
  const filled = Math.round(frac * barWidth);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  return `${p.label}  ${bar} ${pct}  ${formatBytes(p.received)} / ${formatBytes(p.total)}  ${rate}  ETA ${eta}`;
}

export interface ProgressBarOptions {
  stream?: ProgressStream;
  /** Minimum time between redraws on a TTY. */
  ttyIntervalMs?: number;
  /** Minimum time between plain lines when not a TTY. */
  plainIntervalMs?: number;
  now?: () => number;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly ttyIntervalMs: number;
  private readonly plainIntervalMs: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private samples: { t: number; bytes: number }[] = [];
  private drewTty = false;
  private startBytes = 0;
  private startTime: number;

  constructor(
    private readonly label: string,
    opts: ProgressBarOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.ttyIntervalMs = opts.ttyIntervalMs ?? 100;
    this.plainIntervalMs = opts.plainIntervalMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.startTime = this.now();
  }

  /** Marks where this transfer starts (resumed bytes do not count towards the rate). */
  start(received: number, total: number | undefined): void {
    this.startBytes = received;
    this.startTime = this.now();
    this.samples = [{ t: this.startTime, bytes: received }];
    if (!this.tty) {
      const resumed = received > 0 ? `, resuming at ${formatBytes(received)}` : '';
      this.stream.write(`${this.label}: downloading${total !== undefined ? ` ${formatBytes(total)}` : ''}${resumed}\n`);
      this.lastDraw = this.now();
    } else this.update(received, total, true);
  }

  /** Rate over the last ~5 s. */
  rate(): number {
    const s = this.samples;
    if (s.length < 2) return 0;
    const a = s[0]!;
    const b = s[s.length - 1]!;
    const dt = (b.t - a.t) / 1000;
    return dt > 0 ? (b.bytes - a.bytes) / dt : 0;
  }

  update(received: number, total: number | undefined, force = false): void {
    const t = this.now();
    this.samples.push({ t, bytes: received });
    while (this.samples.length > 2 && t - this.samples[0]!.t > 5_000) this.samples.shift();
    const interval = this.tty ? this.ttyIntervalMs : this.plainIntervalMs;
    if (!force && t - this.lastDraw < interval) return;
    this.lastDraw = t;
    const cols = this.stream.columns ?? 100;
    const line = progressLine({ label: this.label, received, total, bytesPerSecond: this.rate(), width: cols < 90 ? 12 : 24 });
    if (this.tty) {
      this.stream.write(`\r${line.slice(0, Math.max(20, cols - 1))}\x1b[K`);
      this.drewTty = true;
    } else this.stream.write(`${line}\n`);
  }

  /** Ends the bar with a final line. */
  done(received: number, message?: string): void {
    const secs = (this.now() - this.startTime) / 1000;
    const avg = secs > 0 ? (received - this.startBytes) / secs : 0;
    const text = message ?? `${this.label}  ${formatBytes(received)} in ${formatDuration(secs)} (${formatBytes(avg)}/s)`;
    if (this.tty && this.drewTty) this.stream.write(`\r${text}\x1b[K\n`);
    else this.stream.write(`${text}\n`);
  }

  /** Leaves the current line (on failure) without a summary. */
  abort(): void {
    if (this.tty && this.drewTty) this.stream.write('\n');
  }
}
