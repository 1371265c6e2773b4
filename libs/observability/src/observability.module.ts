import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { BerthConfig } from '@berth/config';
import { HealthController } from './health/health.controller.js';
import { ROOT_LOGGER, RequestObserver } from './http/request-observer.js';
import { createLogger } from './logging/logger.js';
import { HttpMetrics } from './metrics/http-metrics.js';
import { LoginMetrics } from './metrics/login-metrics.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { StateMetrics } from './metrics/state-metrics.js';
import { StateMetricsStore } from './metrics/state-metrics.store.js';

/**
 * The registry's health probes (/health/live, /health/ready), Prometheus metrics
 * (/metrics) and request logging. Give it the logger the application logs through
 * (bootstrap makes one before Nest starts) so request lines and Nest's own share a
 * destination. Apply RequestObserver.handle as the first middleware.
 */
@Module({})
export class ObservabilityModule {
  static forRoot(config: BerthConfig, logger?: Logger): DynamicModule {
    return {
      module: ObservabilityModule,
      // Global: the libraries above (the manifest cache) register their metrics in the same Registry.
      global: true,
      imports: [TerminusModule.forRoot({ errorLogStyle: 'json' })],
      controllers: [HealthController, MetricsController],
      providers: [
        { provide: ROOT_LOGGER, useFactory: () => logger ?? createLogger(config, 'registry') },
        {
          // One registry per application (not prom-client's global one), so two apps in a process never collide.
          provide: Registry,
          useFactory: () => {
            const registry = new Registry();
            collectDefaultMetrics({ register: registry });
            return registry;
          },
        },
        HttpMetrics,
        LoginMetrics,
        StateMetrics,
        StateMetricsStore,
        RequestObserver,
      ],
      exports: [RequestObserver, Registry],
    };
  }
}
