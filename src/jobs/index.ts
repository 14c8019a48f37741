export * from './types.ts';
export * from './errors.ts';
export type * from './store-api.ts';
export { JobStore, openStore, newJobId, SCHEMA_VERSION, type JobStoreOptions } from './store.ts';
export * from './fairness.ts';
export { validateRequest } from './check-request.ts';
export { DEFAULT_LIMITS } from './scheduler-settings.ts';
export { Scheduler, type SchedulerOptions, type CancelResult, type RecoverReport, type DeviceStatus } from './scheduler.ts';
export { installShutdownHooks, type ShutdownHookOptions } from './shutdown-hooks.ts';
