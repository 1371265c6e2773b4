export { GcModule, type GcModuleOptions } from './gc.module.js';
export { GcRunService, type RunPage, type StartedRun } from './gc-runs.service.js';
export { GcAlreadyRunningError, GcReadOnlyError, type GcRun, type GcStatus, type GcTrigger } from './gc-run.js';
export type { GcOptions, GcResult } from './gc-result.js';
export { UploadPurger, type PurgeResult } from './upload-purger.js';
export { VerifyRunService, type VerifyReport, type VerifyStart } from './verify/verify-runs.service.js';
export {
  VerifyAlreadyRunningError,
  VerifyReadOnlyError,
  onlyTrailingBytes,
  type FindingKind,
  type FindingOutcome,
  type VerifyFinding,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyRun,
} from './verify/verify-run.js';
export type { FindingCount } from './verify/verify-run.store.js';
