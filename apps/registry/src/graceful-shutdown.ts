import { type INestApplication, Logger } from '@nestjs/common';
import type { Server } from 'node:http';

/**
 * On SIGTERM or SIGINT: stop accepting connections, let the requests in flight (a long
 * blob upload, say) finish for up to `timeoutSeconds`, then close the application (its
 * database pool, Redis connections and workers) and exit 0. Nest's own shutdown hooks
 * would stop the modules before the HTTP server, under the requests still running.
 * A second signal of the same kind stops the process at once.
 */
export function closeGracefullyOnSignals(app: INestApplication, timeoutSeconds: number): void {
  const logger = new Logger('Berth');
  let closing = false;
  const close = async (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
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
  };
  process.once('SIGTERM', (signal) => void close(signal));
  process.once('SIGINT', (signal) => void close(signal));
}
