/**
 * A registry for the observability suite: the real application (createRegistryApp)
 * on a fresh Postgres database this suite can also query, with its JSON log lines
 * captured in memory instead of written to stdout.
 */
import { RegistryClient } from '../support/http.js';
import { type Credentials, startInProcessRegistry } from '../support/registry.js';

export interface ObservedRegistry {
  url: string;
  admin: Credentials;
  /** Authenticates as the administrator with HTTP Basic. */
  client: RegistryClient;
  /** Every line the registry logged so far, raw. */
  lines: string[];
  /** The lines parsed (each must be one JSON object). */
  entries(): Record<string, any>[];
  sql<T = any>(query: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function startObservedRegistry(env: Record<string, string> = {}): Promise<ObservedRegistry> {
  const lines: string[] = [];
  const registry = await startInProcessRegistry({
    storageDriver: 'filesystem',
    env: { LOG_LEVEL: 'log', ...env },
    logDestination: { write: (line: string) => void lines.push(line) },
  });
  const database = registry.database!;
  return {
    url: registry.url,
    admin: registry.admin,
    client: new RegistryClient(registry.url, registry.admin),
    lines,
    entries: () => lines.map((line) => JSON.parse(line)),
    sql: (query, params) => database.query(query, params),
    close: registry.close,
  };
}

/** One sample of a metric in Prometheus text: its value, or undefined when the series is absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    if (line.slice(0, at) === series) return Number(line.slice(at + 1));
  }
  return undefined;
}
