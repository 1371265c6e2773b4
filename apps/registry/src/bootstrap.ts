import 'reflect-metadata';
import { type INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Server } from 'node:http';
import { BerthConfig, type Environment } from '@berth/config';
import { apiBodyErrorHandler, setupAdminOpenApi } from '@berth/admin';
import { UserService } from '@berth/auth';
import { rewriteV2Path } from '@berth/distribution';
import { PinoNestLogger, RequestObserver, createLogger } from '@berth/observability';
import type { DestinationStream } from 'pino';
import { HttpErrorFilter } from './http-error.filter.js';
import { AppModule } from './app.module.js';
import { readTlsOptions } from './tls-options.js';

export interface RegistryAppOptions {
  /** Where the JSON log lines go; stdout when absent (tests capture them here). */
  logDestination?: DestinationStream;
}

/** Builds the registry application from an environment (validated first); the caller listens. */
export async function createRegistryApp(env: Environment = process.env, options: RegistryAppOptions = {}): Promise<INestApplication> {
  const config = new BerthConfig(env);
  // One JSON logger for Nest's own messages and the request lines, made before Nest starts.
  const logger = createLogger(config, 'registry', options.logDestination);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), {
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
  // Only the token endpoint (OAuth2 form) and the admin API read small bodies.
  app.use('/auth/token', express.urlencoded({ extended: false, limit: '16kb' }));
  app.use('/api', express.json({ limit: '1mb' }), apiBodyErrorHandler);
  app.useGlobalFilters(new HttpErrorFilter());
  setupAdminOpenApi(app);
  await app.get(UserService).ensureInitialAdmin(config.admin.username, config.admin.password, (m) => new Logger('Berth').warn(m));
  // Large blobs over slow links take longer than Node's 5-minute default.
  (app.getHttpServer() as Server).requestTimeout = 0;
  return app;
}
