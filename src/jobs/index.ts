export * from './types.ts';
export * from './errors.ts';
export { JobStore, openStore, newJobId, SCHEMA_VERSION, type JobStoreOptions, type StepTimeSample, type DeviceStepStats } from './store.ts';
export {
  Scheduler,
  DEFAULT_LIMITS,
  defaultSecPerUnitStep,
  unitFactor,
  type SchedulerOptions,
  type CancelResult,
  type RecoverReport,
  type DeviceStatus,
} from './scheduler.ts';
export { installShutdownHooks, type ShutdownHookOptions } from './shutdown-hooks.ts';
