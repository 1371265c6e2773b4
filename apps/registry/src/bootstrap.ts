import 'reflect-metadata';
import { type INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { BerthConfig, type Environment } from '@berth/config';
import { apiBodyErrorHandler, setupAdminOpenApi } from '@berth/admin';
import { UserService, tokenFormErrorHandler } from '@berth/auth';
import { RegistryError } from '@berth/core';
import { rewriteV2Path } from '@berth/distribution';
import { PinoNestLogger, RequestObserver, createLogger } from '@berth/observability';
import { MirrorRoutes } from '@berth/proxy';
import type { DestinationStream } from 'pino';
import { HttpErrorFilter } from './http-error.filter.js';
import { refuseMalformedInput } from './malformed-input.middleware.js';
import { AppModule } from './app.module.js';
import { bodyDeadlines } from './body-deadline.middleware.js';
import { readTlsOptions } from './tls-options.js';

/** Bodies read before the guard has checked credentials: the token endpoint's form and the admin API's JSON. */
const PRE_AUTHENTICATED_BODIES = /^\/(?:auth\/token\/?$|api\/)/;
const HEADERS_TIMEOUT_MS = 60_000;

export interface RegistryAppOptions {
  /** Where the JSON log lines go; stdout when absent (tests capture them here). */
  logDestination?: DestinationStream;
}

/** Builds the registry application from an environment (validated first); the caller listens. */
export async function createRegistryApp(env: Environment = process.env, options: RegistryAppOptions = {}): Promise<INestApplication> {
  const config = new BerthConfig(env);
  // One JSON logger for Nest's own messages and the request lines, made before Nest starts.
  const logger = createLogger(config, 'registry', options.logDestination);
  // Paths match exactly as written (Express ignores case by default): /V2/… or /API/…
  // must not reach a handler past a check or a middleware mounted on /v2, /api or /auth.
  const expressApp = express().set('case sensitive routing', true);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), new ExpressAdapter(expressApp), {
    // Blob bodies stream into storage and manifests are read raw: no body parsing.
    bodyParser: false,
    logger: new PinoNestLogger(logger),
    // TLS_CERT and TLS_KEY set: HTTPS served directly.
    httpsOptions: config.tls ? readTlsOptions(config.tls) : undefined,
  });
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind a load balancer, the client address (login limits, audit, events) comes from X-Forwarded-For.
  if (config.trustProxy !== false) app.set('trust proxy', config.trustProxy);
  // First, so that every response (errors from the middleware below included) carries the request id and is measured.
  app.use(app.get(RequestObserver).handle);
  app.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.url.startsWith('/v2/')) req.url = rewriteV2Path(req.url);
    next();
  });
  // Mirror mode (`?ns=`, MIRROR_DEFAULT_NAMESPACE): names a proxy namespace serves, before routing and the guard.
  app.use(app.get(MirrorRoutes).handle);
  app.use(
    bodyDeadlines({
      idleMs: config.body.idleTimeoutSeconds * 1000,
      deadlineMs: config.body.deadlineSeconds * 1000,
      preAuthenticated: PRE_AUTHENTICATED_BODIES,
    }),
  );
  // Only the token endpoint (OAuth2 form) and the admin API parse bodies, before the
  // guard has seen any credentials: small limits.
  app.use('/auth/token', express.urlencoded({ extended: false, limit: '16kb' }), tokenFormErrorHandler);
  app.use('/api', express.json({ limit: '64kb' }), apiBodyErrorHandler);
  app.use(refuseMalformedInput);
  app.useGlobalFilters(new HttpErrorFilter());
  setupAdminOpenApi(app);
  await app.init();
  // Behind Nest's exception layer, for an error its filters could not answer: never
  // Express's own handler, whose HTML page shows the stack trace outside production.
  app.getHttpAdapter().getInstance().use(lastResortErrorHandler);
  await app.get(UserService).ensureInitialAdmin(config.admin.username, config.admin.password, (m) => new Logger('Berth').warn(m));
  const server = app.getHttpServer() as Server;
  // Large blobs over slow links take longer than Node's 5-minute default: bodies are
  // bounded by bodyDeadlines (idle, and a deadline before authentication) instead.
  server.requestTimeout = 0;
  // Headers still have a deadline (checked every 30 s by Node).
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  return app;
}

function lastResortErrorHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  new Logger('Berth').error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = req.path.startsWith('/api/')
    ? { statusCode: 500, error: 'Internal Server Error', message: 'internal server error' }
    : new RegistryError('UNKNOWN').toBody();
  res.status(500).json(body);
}
