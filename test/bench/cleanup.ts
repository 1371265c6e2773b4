/**
 * Cleanup bookkeeping. Every resource the bench creates (child process, temp
 * dir, database) registers an undo action in a Scope; scopes are closed in
 * reverse order of creation, whether the run ends normally, throws, or is
 * interrupted with Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';

type Undo = { label: string; run: () => Promise<void> | void };

const openScopes = new Set<Scope>();
/** Children still alive, so a hard exit can at least SIGKILL them synchronously. */
const liveChildren = new Set<ChildProcess>();

export class Scope {
  private readonly undos: Undo[] = [];

  constructor(readonly name: string) {
    openScopes.add(this);
  }

  defer(label: string, run: Undo['run']): void {
    this.undos.push({ label, run });
  }

  /** Runs the undo actions LIFO; a failing one is reported, the rest still run. */
  async close(): Promise<void> {
    openScopes.delete(this);
    while (this.undos.length > 0) {
      const undo = this.undos.pop()!;
      try {
        await undo.run();
      } catch (err) {
        console.error(`  cleanup "${undo.label}" (${this.name}) failed: ${errorMessage(err)}`);
      }
    }
  }
}

export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

async function closeAllScopes(): Promise<void> {
  for (const scope of [...openScopes].reverse()) await scope.close();
}

/**
 * Ctrl-C / SIGTERM: close every scope, then exit. A second signal skips the
 * orderly path. The 'exit' hook is the last resort for children that are
 * still running when the process goes down for any other reason.
 */
export function installSignalHandlers(): void {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      console.error(`\n${signal} again: exiting without full cleanup`);
      process.exit(130);
    }
    interrupted = true;
    console.error(`\n${signal} received: stopping servers and cleaning up…`);
    closeAllScopes().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export async function cleanupAndExit(code: number): Promise<never> {
  await closeAllScopes();
  process.exit(code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
