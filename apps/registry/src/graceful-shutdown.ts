import type { INestApplication } from '@nestjs/common';
import type { Server } from 'node:http';

interface ShutdownLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * SIGTERM and SIGINT handling for the whole life of the process. It is installed first
 * thing in main, before the application's modules are even loaded: as PID 1 (in a
 * container) a signal without a handler is ignored, so a stop during start-up would
 * otherwise wait for the supervisor's SIGKILL.
 *
 * Before `attach`: a signal exits at once (nothing is serving yet; an embedded database
 * recovers like Postgres after a crash). After: stop accepting connections, let the
 * requests in flight (a long blob upload, say) finish for up to `timeoutSeconds`, then
 * close the application (its database pool, Redis connections and workers) and exit 0.
 * Nest's own shutdown hooks would stop the modules before the HTTP server, under the
 * requests still running. A second signal stops the process at once, unless it follows
 * the first within a second: a Ctrl-C under `npm start` reaches the registry twice, from
 * the terminal and forwarded by npm.
 */
export class GracefulShutdown {
  private running?: { app: INestApplication; timeoutSeconds: number; logger: ShutdownLogger };
  private closingSince?: number;

  constructor() {
    process.on('SIGTERM', (signal) => void this.onSignal(signal));
    process.on('SIGINT', (signal) => void this.onSignal(signal));
  }

  attach(app: INestApplication, timeoutSeconds: number, logger: ShutdownLogger): void {
    this.running = { app, timeoutSeconds, logger };
  }

  private async onSignal(signal: NodeJS.Signals): Promise<void> {
    if (this.closingSince !== undefined) {
      if (Date.now() - this.closingSince > 1000) process.exit(1);
      return;
    }
    this.closingSince = Date.now();
    if (!this.running) {
      console.error(`${signal} during start-up: exiting`);
      process.exit(0);
    }
    const { app, timeoutSeconds, logger } = this.running;
    logger.log(`${signal}: refusing new connections, waiting up to ${timeoutSeconds} s for requests in flight`);
    const server = app.getHttpServer() as Server;
    const drained = new Promise<void>((resolve) => server.close(() => resolve()));
    // A keep-alive connection between two requests would hold close() open: drop each one as it goes idle.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutSeconds * 1000))),
    ]);
    clearInterval(sweep);
    clearTimeout(timer);
    if (timedOut) {
      logger.warn(`requests still running after ${timeoutSeconds} s: closing their connections`);
      server.closeAllConnections();
    }
    try {
      await app.close();
      logger.log('stopped');
      process.exit(0);
    } catch (err) {
      logger.error(`shutdown failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(1);
    }
  }
}
