import type { ServerProcess } from './server-process.js';

/** A registry under test, started and answering GET /v2/. */
export interface RunningTarget {
  label: string;
  version: string;
  baseUrl: string;
  server: ServerProcess;
  /** Set-up facts printed with the results (cache mode, database, auth, …). */
  notes: string[];
  /** Authorization header sent on every request (Berth runs with auth on); none for Distribution. */
  authorization?: string;
}
