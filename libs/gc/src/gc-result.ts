/** What one garbage collection run took, or (dry run) would take. */
export interface GcResult {
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  /** Files in storage whose blob row was already gone (a crash between row and file). */
  orphanFilesDeleted: number;
  /** Sizes of the deleted blobs and orphan files. */
  bytesFreed: number;
  /** Up to SAMPLE_SIZE digests of each kind, for a look at what goes. */
  sample: { manifests: string[]; blobs: string[] };
}

export interface GcOptions {
  dryRun: boolean;
  deleteUntagged: boolean;
}

export const SAMPLE_SIZE = 20;

export function emptyResult(): GcResult {
  return { manifestsDeleted: 0, linksDeleted: 0, blobsDeleted: 0, orphanFilesDeleted: 0, bytesFreed: 0, sample: { manifests: [], blobs: [] } };
}
