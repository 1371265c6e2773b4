export type VerifyStatus = 'running' | 'interrupted' | 'finished' | 'abandoned';
export type VerifyPhase = 'blobs' | 'files';

/**
 * What a check found: `missing` a blob row without its file, `corrupt` a file of the
 * right size whose bytes hash to another digest, `size_mismatch` a file of another
 * size (truncated or grown), `orphan` a file at a content address with no blob row.
 */
export type FindingKind = 'missing' | 'corrupt' | 'size_mismatch' | 'orphan';

/**
 * `found`: reported only (no --repair); `repaired`: the bad file is gone (or, for
 * onlyTrailingBytes, cut to length); `unrepairable`: the bytes must be pushed again.
 */
export type FindingOutcome = 'found' | 'repaired' | 'unrepairable';

/** One row of verify_runs as the CLI shows it. */
export interface VerifyRun {
  id: string;
  status: VerifyStatus;
  repair: boolean;
  startedAt: Date;
  finishedAt: Date | null;
  phase: VerifyPhase;
  /** The last digest done in `phase`; the run continues after it. */
  cursor: string | null;
  blobsChecked: number;
  blobsOk: number;
  bytesChecked: number;
  filesChecked: number;
  error: string | null;
}

export interface VerifyFinding {
  digest: string;
  kind: FindingKind;
  expectedSize: number | null;
  actualSize: number | null;
  actualDigest: string | null;
  outcome: FindingOutcome;
}

export interface VerifyOptions {
  /** Delete orphan files and bad files (their blobs then read as missing until pushed again). */
  repair: boolean;
  /** Start afresh even when an interrupted run could be continued. */
  restart: boolean;
}

/** Counts and bytes so far, for progress lines. */
export interface VerifyProgress {
  run: VerifyRun;
  phase: VerifyPhase;
  /** The phase is over (a last line for it). */
  phaseDone: boolean;
}

/** READ_ONLY=true: repairing would change storage; a check alone is still allowed. */
export class VerifyReadOnlyError extends Error {
  constructor() {
    super('the registry is in read-only mode: verify may only check, not --repair');
    this.name = 'VerifyReadOnlyError';
  }
}

/** Another process is verifying: one check at a time. */
export class VerifyAlreadyRunningError extends Error {
  constructor() {
    super('a verify run is already going on');
    this.name = 'VerifyAlreadyRunningError';
  }
}

/**
 * A size_mismatch whose file is larger than the blob and whose first `expectedSize`
 * bytes hash to the blob's digest (recorded as its actualDigest): the bytes are good,
 * reads stop at the recorded size, and a repair cuts the file to length.
 */
export function onlyTrailingBytes(f: Pick<VerifyFinding, 'digest' | 'kind' | 'actualDigest'>): boolean {
  return f.kind === 'size_mismatch' && f.actualDigest === f.digest;
}
