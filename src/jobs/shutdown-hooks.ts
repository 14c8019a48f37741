/** Wires SIGINT/SIGTERM to Scheduler.shutdown(): first signal shuts down gracefully, a second one exits at once. */
import type { Scheduler } from './scheduler.ts';

export interface ShutdownHookOptions {
  signals?: NodeJS.Signals[]; // default SIGINT, SIGTERM
  /** Exit the process after shutdown (default true; code 0, or 1 if shutdown threw). */
  exit?: boolean;
  /** Extra work after the scheduler stopped (close the Discord client, flush logs...). */
  after?: () => Promise<void> | void;
  log?: (msg: string) => void;
}

/** Returns a function that removes the hooks. */
export function installShutdownHooks(scheduler: Pick<Scheduler, 'shutdown'>, opts: ShutdownHookOptions = {}): () => void {
  const signals = opts.signals ?? ['SIGINT', 'SIGTERM'];
  const log = opts.log ?? ((m: string) => process.stderr.write(m + '\n'));
  let count = 0;
  const handler = (sig: NodeJS.Signals): void => {
    count++;
    if (count > 1) {
      log(`${sig} again: exiting now; running jobs resume from their last checkpoint on restart`);
      process.exit(130);
    }
    log(`${sig}: stopping (saving running jobs; ${sig} again to exit at once)`);
    void (async () => {
      let code = 0;
      try {
        await scheduler.shutdown();
        await opts.after?.();
      } catch (e) {
        code = 1;
        log(`shutdown failed: ${e instanceof Error ? e.stack : String(e)}`);
      }
      if (opts.exit ?? true) process.exit(code);
    })();
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
