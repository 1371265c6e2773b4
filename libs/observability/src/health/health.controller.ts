import { Controller, Get, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult, type HealthIndicatorFunction, type HealthIndicatorResult } from '@nestjs/terminus';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { Public } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { NotificationsStatus } from '@berth/notifications';
import { STORAGE_DRIVER, type StorageDriver } from '@berth/storage';

/** Each dependency gets this long to answer a readiness check. */
const CHECK_TIMEOUT_MS = 2000;
/** Probes from several sources within this window share one round of checks. */
const CHECK_CACHE_MS = 1000;

/**
 * Kubernetes-style probes in Terminus' format. `live`: the process answers (no
 * dependency is asked, so a database outage never gets the pod restarted).
 * `ready`: the database answers a query and the storage driver lists its blob root;
 * 503 when either is down. Redis (REDIS_URL set) is reported but never fails the
 * probe: pushes and pulls work without it and their events wait in the outbox, so
 * an outage must not take every replica out of the load balancer; it shows as
 * `degraded` (still 200). Public: a probe has no credentials, and the answers name
 * no data.
 */
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly config: BerthConfig,
    private readonly dataSource: DataSource,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly notifications: NotificationsStatus,
  ) {}

  @Get('live')
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response): Promise<unknown> {
    const checks: HealthIndicatorFunction[] = [
      () => this.check('database', () => this.dataSource.query('SELECT 1')),
      () => this.check('storage', () => this.storage.list('blobs')),
    ];
    if (this.config.redisUrl) checks.push(() => this.optional('redis', () => this.notifications.pingRedis()));
    try {
      return await this.health.check(checks);
    } catch (err) {
      // Terminus reports "not ready" as an exception; answer its body with 503 here
      // rather than let the registry's error filter turn it into a registry error.
      if (!(err instanceof ServiceUnavailableException)) throw err;
      res.status(503);
      return err.getResponse();
    }
  }

  /** A dependency the registry serves without: down is reported as degraded. */
  private async optional(key: string, probe: () => Promise<unknown>): Promise<HealthIndicatorResult> {
    const result = await this.check(key, probe);
    const { status, ...data } = result[key];
    return status === 'down' ? this.indicators.check(key).degraded(data) : result;
  }

  private check(key: string, probe: () => Promise<unknown>) {
    return this.indicators
      .check(key)
      .attempt(async () => {
        await probe();
      })
      .withTimeout(CHECK_TIMEOUT_MS)
      .cacheFor(CHECK_CACHE_MS);
  }
}
