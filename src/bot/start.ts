/**
 * startBot(config, deps): builds the job store, the engine runners (one per device), the fair scheduler,
 * the presenter and the discord.js client; logs in; then recovers jobs left from the last run (they
 * re-attach to their messages by the ids in their JobRecord). Every piece can be injected, which is how
 * the tests run the real client against the fake Discord with a test runner.
 */
import path from 'node:path';
import { Events, type Client, type ClientOptions } from 'discord.js';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { DEFAULT_ATTACHMENT_POLICY, type AttachmentPolicy } from './attachments.ts';
import { getLogger } from '../log.ts';
import { Scheduler, type SchedulerOptions } from '../jobs/scheduler.ts';
import { openStore } from '../jobs/store.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import type { JobRunner } from '../jobs/types.ts';
import { createClient, wireHandlers } from './client.ts';
import { LimitsStore, type BotContext, type BotMetrics } from './context.ts';
import { DiscordJsPort, errorSummary } from './discord-port.ts';
import type { Command } from './interaction.ts';
import { Presenter, type PresenterOptions } from './presenter.ts';
import { logJobEvents } from '../ops/job-log.ts';
import { startOpsServer, type OpsServer } from '../ops/http.ts';
import { clusterFrontRunners, redisMode, startCluster } from './cluster.ts';

export interface BotDeps {
  /** The slash commands (src/commands/index.ts's COMMANDS): the bot routes to them but does not import them. */
  commands: readonly Command[];
  /** Runners to use (one per device). Default: the engine's, from src/engine/runner.ts. */
  runners?: JobRunner[];
  /** An open store (then the caller closes it). Default: opened from DATA_DIR / DB_PATH. */
  store?: JobStoreApi;
  logger?: Logger;
  presenter?: Partial<PresenterOptions>;
  /** e.g. { allowedHosts: ['127.0.0.1:PORT'] } so tests can serve attachments */
  attachments?: Partial<AttachmentPolicy>;
  clientOptions?: Partial<ClientOptions>;
  scheduler?: Partial<Omit<SchedulerOptions, 'store' | 'runners'>>;
  /** Install SIGINT/SIGTERM handlers that stop gracefully and exit (default true). */
  handleSignals?: boolean;
  /** How long login may take before startBot fails (default 60 s). */
  readyTimeoutMs?: number;
}

export interface BotHandle {
  client: Client;
  scheduler: Scheduler;
  store: JobStoreApi;
  presenter: Presenter;
  ctx: BotContext;
  /** /healthz and /metrics on 127.0.0.1:HTTP_PORT; undefined when HTTP_PORT is unset. */
  ops?: OpsServer;
  /** Graceful stop: running jobs checkpoint and go back to the queue, messages say so, client logs out. */
  stop(): Promise<void>;
}

/** The engine's contract: src/engine/runner.ts exports createEngineRunners(config, { logger, onWorkerRestart }). */
interface EngineModule {
  createEngineRunners(config: Config, opts: { logger: Logger; onWorkerRestart?(device: string, reason: string): void }): Promise<JobRunner[]> | JobRunner[];
}

async function engineRunners(config: Config, logger: Logger, metrics: BotMetrics): Promise<JobRunner[]> {
  const spec = new URL('../engine/runner.ts', import.meta.url).href;
  let mod: EngineModule;
  try {
    mod = (await import(spec)) as EngineModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes('runner.ts')) {
      throw new Error('The engine (src/engine/runner.ts) is not in this checkout yet, so there is nothing to paint with.');
    }
    throw err;
  }
  return mod.createEngineRunners(config, {
    logger,
    onWorkerRestart: (device) => {
      metrics.workerRestarts[device] = (metrics.workerRestarts[device] ?? 0) + 1;
    },
  });
}

export async function startBot(config: Config, deps: BotDeps): Promise<BotHandle> {
  const rootLog = deps.logger ?? getLogger();
  const log = rootLog.child({ mod: 'bot' });
  const metrics: BotMetrics = { rateLimited: 0, workerRestarts: {} };
  const ownStore = !deps.store;
  const store = deps.store ?? openStore({ dataDir: config.dataDir, dbFile: config.dbPath });
  let runners: JobRunner[];
  try {
    const mode = deps.runners ? undefined : redisMode();
    runners = deps.runners ?? (mode ? await clusterFrontRunners(mode, log, () => engineRunners(config, log, metrics)) : await engineRunners(config, log, metrics));
  } catch (err) {
    if (ownStore) store.close();
    throw err;
  }
  const scheduler = new Scheduler({
    store,
    runners,
    limits: { perUserCap: config.maxQueuedPerUser, globalQueueCap: config.maxQueue },
    logger: rootLog.child({ mod: 'scheduler' }),
    closeStore: ownStore,
    ...deps.scheduler,
  });
  const client = createClient(config, deps.clientOptions);
  const port = new DiscordJsPort(client);
  const presenter = new Presenter(port, scheduler, deps.presenter, rootLog);
  presenter.attach();
  const ctx: BotContext = {
    config,
    scheduler,
    store,
    presenter,
    port,
    limits: new LimitsStore(store, config),
    defaults: { defaultSteps: config.defaultSteps, defaultSize: config.defaultSize, defaultCutn: config.defaultCutn, saveEvery: config.saveEvery },
    attachments: { ...DEFAULT_ATTACHMENT_POLICY, ...deps.attachments },
    uploadsDir: path.join(config.dataDir, 'uploads'),
    log,
    metrics,
  };
  wireHandlers(client, ctx, deps.commands);
  const unlogJobs = logJobEvents(scheduler, rootLog.child({ mod: 'jobs' }));
  let ops: OpsServer | undefined;
  try {
    if (config.httpPort !== undefined) {
      ops = await startOpsServer({ port: config.httpPort, client, store, scheduler, presenter, metrics, runners, logger: rootLog.child({ mod: 'ops' }) });
    }
  } catch (err) {
    presenter.detach();
    await scheduler.shutdown().catch(() => undefined);
    throw err;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('stopping: running jobs checkpoint and wait for the restart');
      presenter.announceShutdown();
      await scheduler.shutdown();
      await Promise.race([presenter.flush(), new Promise((r) => setTimeout(r, 10_000).unref())]);
      presenter.detach();
      await client.destroy();
      await ops?.close();
      unlogJobs();
      log.info('stopped');
    })());

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Discord login timed out (no READY from the gateway)')), deps.readyTimeoutMs ?? 60_000);
    client.once(Events.ClientReady, () => {
      clearTimeout(timer);
      resolve();
    });
  });
  try {
    await client.login(config.discordToken);
    await ready;
    // Models that cannot load (a damaged file, no CUDA runtime for cuda:N) stop the bot here, before
    // recovered jobs would each fail on a device that cannot paint.
    await Promise.all(
      runners.map((r) =>
        r.whenReady?.().catch((e: Error) => {
          throw new Error(`the engine on ${r.device} could not start: ${e.message}`);
        }),
      ),
    );
  } catch (err) {
    presenter.detach();
    await client.destroy().catch(() => undefined);
    await scheduler.shutdown().catch(() => undefined);
    await ops?.close();
    throw err;
  }
  log.info({ user: client.user?.tag, guilds: client.guilds.cache.size, devices: runners.map((r) => r.device) }, 'logged in to Discord');

  ctx.cluster = await startCluster(scheduler, runners);
  const report = scheduler.recover();
  if (report.requeued.length || report.failed.length) {
    log.info({ requeued: report.requeued.length, resumed: report.resumed.length, failed: report.failed.length }, 'recovered jobs from the last run');
  }

  if (deps.handleSignals ?? true) {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'signal received');
      void stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err: errorSummary(err) }, 'error while stopping');
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  return { client, scheduler, store, presenter, ctx, ...(ops ? { ops } : {}), stop };
}
