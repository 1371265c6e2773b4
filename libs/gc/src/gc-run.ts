export type GcTrigger = 'api' | 'cli' | 'schedule';
export type GcStatus = 'running' | 'succeeded' | 'failed';

/** One row of gc_runs as the API and the CLI show it. */
export interface GcRun {
  id: string;
  status: GcStatus;
  trigger: GcTrigger;
  dryRun: boolean;
  deleteUntagged: boolean;
  requestedBy: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  orphanFilesDeleted: number;
  bytesFreed: number;
  error: string | null;
  sample: { manifests: string[]; blobs: string[] } | null;
}

/** READ_ONLY=true: a collection would change content; a dry run is still allowed. */
export class GcReadOnlyError extends Error {
  constructor() {
    super('the registry is in read-only mode: garbage collection may only be a dry run');
    this.name = 'GcReadOnlyError';
  }
}

/** Another run holds the lock: one collection at a time. */
export class GcAlreadyRunningError extends Error {
  constructor() {
    super('a garbage collection is already running');
    this.name = 'GcAlreadyRunningError';
  }
}
