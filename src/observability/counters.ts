/** The counters the bot keeps and /metrics reads (defined here, below the bot, so metrics need not import it). */

export interface BotMetrics {
  /** 429s discord.js received (it waited and retried) */
  rateLimited: number;
  /** engine workers that died and were replaced, per device */
  workerRestarts: Record<string, number>;
}

export interface PresenterCounters {
  edits: number;
  editErrors: number;
  messagesSent: number;
  threadPosts: number;
  threadsCreated: number;
}
