/**
 * Coalesces updates to one Discord message: at most one edit in flight, edits at least `minIntervalMs`
 * apart (measured from the end of the previous one, so they also arrive that far apart), and each edit renders the newest state at the
 * moment it is sent, so intermediate states are skipped rather than queued. `urgent` (final states)
 * skips the interval but still waits for the edit in flight, so the final state always lands last.
 */
export class CoalescingEditor {
  private dirty = false;
  private urgent = false;
  private inFlight: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastEndAt = -Infinity;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    /** sends the newest state; errors are the sender's to handle (they are swallowed here) */
    private readonly send: () => Promise<void>,
    /** a number, or a function read each time (e.g. longer while a job only waits in the queue) */
    private readonly minIntervalMs: number | (() => number),
  ) {}

  request(urgent = false): void {
    if (this.closed) return;
    this.dirty = true;
    if (urgent) this.urgent = true;
    this.schedule();
  }

  get busy(): boolean {
    return this.dirty || this.inFlight !== null || this.timer !== null;
  }

  private schedule(): void {
    if (this.inFlight || !this.dirty || this.closed) return;
    const interval = typeof this.minIntervalMs === 'function' ? this.minIntervalMs() : this.minIntervalMs;
    const wait = this.urgent ? 0 : Math.max(0, this.lastEndAt + interval - Date.now());
    if (this.timer) {
      if (!this.urgent) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = null;
    if (!this.dirty || this.closed) return this.notifyIdle();
    this.dirty = false;
    this.urgent = false;
    this.inFlight = Promise.resolve()
      .then(() => this.send())
      .catch(() => undefined)
      .finally(() => {
        this.lastEndAt = Date.now();
        this.inFlight = null;
        if (this.dirty) this.schedule();
        else this.notifyIdle();
      });
  }

  private notifyIdle(): void {
    if (this.busy) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Drops pending updates (the edit in flight finishes). */
  close(): void {
    this.closed = true;
    this.dirty = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.inFlight) this.notifyIdle();
  }
}
