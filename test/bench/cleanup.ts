/**
 * Cleanup bookkeeping. Every resource the bench creates (child process, temp
 * dir, database) registers an undo action in a Scope; scopes are closed in
 * reverse order of creation, whether the run ends normally, throws, or is
 * interrupted with Ctrl-C.
 */
import type { ChildProcess } from 'node:child_process';

type Undo = { label: string; run: () => Promise<void> | void };

const openScopes = new Set<Scope>();
/** Undo actions registered after their scope had already closed (see Scope.defer). */
const lateUndos = new Set<Promise<void>>();
let interrupted = false;
/** Children still alive, so a hard exit can at least SIGKILL them synchronously. */
const liveChildren = new Set<ChildProcess>();

export class Scope {
  private readonly undos: Undo[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(readonly name: string) {
    if (interrupted) throw new Error('interrupted');
    openScopes.add(this);
  }

  defer(label: string, run: Undo['run']): void {
    if (this.closed) {
      // A resource created while Ctrl-C was closing this scope (e.g. a temp
      // dir whose mkdtemp was in flight) must not leak: undo it right away.
      const pending = this.runUndo({ label, run }).finally(() => lateUndos.delete(pending));
      lateUndos.add(pending);
      return;
    }
    this.undos.push({ label, run });
  }

  /**
   * Runs the undo actions LIFO; a failing one is reported, the rest still run.
   * Idempotent: a second caller (Ctrl-C racing a normal finish) awaits the
   * same run, so e.g. a data dir is never removed before its server stopped.
   */
  close(): Promise<void> {
    this.closing ??= this.undoAll();
    return this.closing;
  }

  private async undoAll(): Promise<void> {
    this.closed = true;
    openScopes.delete(this);
    while (this.undos.length > 0) await this.runUndo(this.undos.pop()!);
  }

  private async runUndo(undo: Undo): Promise<void> {
    try {
      await undo.run();
    } catch (err) {
      console.error(`  cleanup "${undo.label}" (${this.name}) failed: ${errorMessage(err)}`);
    }
  }
}

export const isInterrupted = () => interrupted;

export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

let closing: Promise<void> = Promise.resolve();

/**
 * Chained, so a caller (e.g. cleanupAndExit right after Ctrl-C) always waits
 * for a close already in progress instead of exiting in the middle of it.
 */
function closeAllScopes(): Promise<void> {
  closing = closing.then(async () => {
    for (const scope of [...openScopes].reverse()) await scope.close();
    await Promise.all([...lateUndos]);
  });
  return closing;
}

/**
 * Ctrl-C / SIGTERM: close every scope at once (stopping the servers makes any
 * request in flight fail fast), let main() notice isInterrupted() and wind
 * down through cleanupAndExit(), and exit anyway if that takes too long. A
 * second signal skips the orderly path. The 'exit' hook is the last resort
 * for children still running when the process goes down for any other reason.
 */
export function installSignalHandlers(): void {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      console.error(`\n${signal} again: exiting without full cleanup`);
      process.exit(130);
    }
    interrupted = true;
    process.exitCode = 130;
    console.error(`\n${signal} received: stopping servers and cleaning up…`);
    void closeAllScopes().then(() => setTimeout(() => process.exit(130), 15_000).unref());
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export async function cleanupAndExit(code: number): Promise<never> {
  await closeAllScopes();
  process.exit(interrupted ? 130 : code);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
