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
import { Transcriber } from '../jobs/transcriber.ts';
import { randomBytes } from 'node:crypto';
import { admissionCheck, diskSpace } from '../jobs/admission.ts';
import { scheduleBackups } from '../jobs/backups.ts';
import { startRetention } from '../jobs/retention.ts';
import { JobStore } from '../jobs/store.ts';
import { DEFAULT_LEASE_STALE_MS } from '../jobs/store-lease.ts';
import { keepPromises, savePromises } from './promises.ts';
import { EXIT_STORE_IN_USE } from '../exit-codes.ts';
import type { JobStoreApi } from '../jobs/store-api.ts';
import type { JobRunner } from '../jobs/types.ts';
import { createClient, wireHandlers } from './client.ts';
import { LimitsStore, type BotContext, type BotMetrics } from './context.ts';
import { DiscordJsPort, errorSummary } from './discord-port.ts';
import type { AnyCommand } from './interaction.ts';
import { Presenter, type PresenterOptions } from './presenter.ts';
import { createEngineRunners } from '../jobs/engine-runners.ts';
import { registerIfChanged } from './register.ts';
import { logJobEvents } from '../observability/job-log.ts';
import { startOpsServer, type OpsServer } from '../observability/http.ts';
import { clusterFrontRunners, redisMode, startCluster } from './cluster.ts';

export interface BotDeps {
  /** The slash commands (src/commands/index.ts's COMMANDS): the bot routes to them but does not import them. */
  commands: readonly AnyCommand[];
  /** Runners to use (one per device). Default: one engine worker per device (src/jobs/engine-runners.ts). */
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
  /** The store lease: no heartbeat for staleMs → another process may take it (default 30 s, heartbeat every staleMs/6). */
  lease?: { staleMs?: number };
  /** Delay before the first scheduled backup (default 10 s). */
  firstBackupDelayMs?: number;
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

function engineRunners(config: Config, logger: Logger, metrics: BotMetrics): JobRunner[] {
  return createEngineRunners(config, {
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
  // one bot per store: a second process stops here with LeaseHeldError
  const leaseToken = randomBytes(8).toString('hex');
  const staleMs = deps.lease?.staleMs ?? DEFAULT_LEASE_STALE_MS;
  let heartbeat: NodeJS.Timeout | undefined;
  const releaseLease = (): void => {
    clearInterval(heartbeat);
    if (store.isOpen) store.releaseLease(leaseToken);
  };
  let runners: JobRunner[];
  try {
    store.acquireLease({ token: leaseToken, staleMs });
    const mode = deps.runners ? undefined : redisMode();
    runners = deps.runners ?? (mode ? await clusterFrontRunners(mode, log, async () => engineRunners(config, log, metrics)) : await engineRunners(config, log, metrics));
  } catch (err) {
    releaseLease();
    if (ownStore) store.close();
    throw err;
  }
  const uploadsDir = path.join(config.dataDir, 'uploads');
  const disk = () => diskSpace(config.dataDir, config.minFreeMb);
  const scheduler = new Scheduler({
    store,
    runners,
    limits: { perUserCap: config.maxQueuedPerUser, globalQueueCap: config.maxQueue },
    logger: rootLog.child({ mod: 'scheduler' }),
    closeStore: ownStore,
    admit: admissionCheck({
      dataDir: config.dataDir,
      minFreeMb: config.minFreeMb,
      onDiskFull: (d) => log.warn({ freeMb: d.freeMb, minFreeMb: d.minFreeMb }, 'new job refused: the data folder is short of disk space'),
    }),
    ...deps.scheduler,
  });
  const client = createClient(config, deps.clientOptions);
  const port = new DiscordJsPort(client);
  const presenter = new Presenter(port, scheduler, deps.presenter, rootLog);
  presenter.attach();
  const ctx: BotContext = {
    config,
    scheduler,
    transcriber: new Transcriber(runners, { busyDevices: () => scheduler.runningJobs().flatMap((j) => (j.device ? [j.device] : [])) }),
    store,
    presenter,
    port,
    limits: new LimitsStore(store, config),
    defaults: { defaultSteps: config.defaultSteps, defaultSize: config.defaultSize, defaultCutn: config.defaultCutn, saveEvery: config.saveEvery },
    attachments: { ...DEFAULT_ATTACHMENT_POLICY, ...deps.attachments },
    uploadsDir,
    log,
    metrics,
    diskSpace: disk,
  };
  wireHandlers(client, ctx, deps.commands);
  const unlogJobs = logJobEvents(scheduler, rootLog.child({ mod: 'jobs' }));
  let ops: OpsServer | undefined;
  try {
    if (config.httpPort !== undefined) {
      ops = await startOpsServer({ port: config.httpPort, client, store, scheduler, presenter, metrics, runners, disk, logger: rootLog.child({ mod: 'ops' }) });
    }
  } catch (err) {
    presenter.detach();
    releaseLease();
    await scheduler.shutdown().catch(() => undefined);
    throw err;
  }
  const stopRetention = startRetention(scheduler, { store, uploadsDir, retentionDays: config.retentionDays, log: rootLog.child({ mod: 'retention' }) });
  let backups: { stop(): Promise<void> } | undefined;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      log.info('stopping: running jobs checkpoint and wait for the restart');
      presenter.announceShutdown();
      try {
        savePromises(config.dataDir, presenter.carryOnPromises());
      } catch (err) {
        log.warn({ err }, 'could not record the jobs that were promised to carry on');
      }
      await backups?.stop();
      stopRetention();
      await scheduler.shutdown(); // closes a store of its own, which gives the lease up
      releaseLease();
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
    stopRetention();
    releaseLease();
    await client.destroy().catch(() => undefined);
    await scheduler.shutdown().catch(() => undefined);
    await ops?.close();
    throw err;
  }
  log.info({ user: client.user?.tag, guilds: client.guilds.cache.size, devices: runners.map((r) => r.device) }, 'logged in to Discord');
  if (config.registerCommands) await registerIfChanged(config, deps.commands, store, log, config.discordAppId ?? client.application?.id);

  ctx.cluster = await startCluster(scheduler, runners);
  const report = scheduler.recover();
  if (report.requeued.length || report.failed.length) {
    log.info({ requeued: report.requeued.length, resumed: report.resumed.length, failed: report.failed.length }, 'recovered jobs from the last run');
  }
  await keepPromises(config.dataDir, store, port, log).catch((err: unknown) => log.warn({ err: errorSummary(err) }, 'could not check the jobs promised to carry on'));

  heartbeat = setInterval(() => {
    try {
      if (store.isOpen && !store.renewLease(leaseToken)) {
        log.fatal('another process took over this job store (its lease); stopping so that two bots never share it');
        clearInterval(heartbeat);
        void stop().finally(() => {
          if (deps.handleSignals ?? true) process.exit(EXIT_STORE_IN_USE);
        });
      }
    } catch (err) {
      log.warn({ err: errorSummary(err) }, 'lease heartbeat failed; trying again');
    }
  }, Math.max(200, Math.floor(staleMs / 6)));
  heartbeat.unref();
  if (store instanceof JobStore && config.backupEveryMs > 0) {
    backups = scheduleBackups(store, { dataDir: config.dataDir, everyMs: config.backupEveryMs, keep: config.backupKeep, firstDelayMs: deps.firstBackupDelayMs ?? 10_000, log: rootLog.child({ mod: 'backup' }) });
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
