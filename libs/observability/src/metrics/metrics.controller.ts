import { Controller, Get, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Public } from '@berth/auth';
import { BerthConfig } from '@berth/config';
import { RegistryError } from '@berth/core';
import { Registry } from 'prom-client';
import { StateMetrics } from './state-metrics.js';

/**
 * Prometheus metrics in the text format. Public unless METRICS_TOKEN is set, then
 * only with `Authorization: Bearer <METRICS_TOKEN>` (Prometheus' `authorization`
 * scrape setting): the figures name no repository or user, but deployments may
 * still want them private.
 */
@Public()
@Controller('metrics')
export class MetricsController {
  private readonly tokenDigest?: Buffer;

  constructor(
    config: BerthConfig,
    private readonly registry: Registry,
    private readonly state: StateMetrics,
  ) {
    this.tokenDigest = config.metricsToken === undefined ? undefined : digest(config.metricsToken);
  }

  @Get()
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    this.authorize(req.headers.authorization);
    await this.state.refresh();
    const body = await this.registry.metrics();
    res.writeHead(200, { 'Content-Type': this.registry.contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(body);
  }

  private authorize(header: string | undefined): void {
    if (!this.tokenDigest) return;
    const presented = header && /^Bearer /i.test(header) ? header.slice(7).trim() : undefined;
    // Digests have equal lengths, so the comparison takes the same time whatever was sent.
    if (presented !== undefined && timingSafeEqual(digest(presented), this.tokenDigest)) return;
    throw new RegistryError('UNAUTHORIZED', 'metrics need the bearer token METRICS_TOKEN', undefined, { 'WWW-Authenticate': 'Bearer realm="berth-metrics"' });
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
